"""Dynamic micro-batching: images from concurrent requests share one backend call.

The first image to arrive waits up to `max_wait_s` for others, up to `max_batch`; while a batch
runs, the next one fills, so a busy engine takes full batches without waiting. Up to `inflight`
batches run at once (OpenVINO's throughput streams), each in a worker thread, so the event loop
keeps serving. An image whose request gave up (timeout) before its batch formed is skipped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from pinclip_sdk.errors import BackendError
from pinclip_sdk.serve.limits import Ticket

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """One image's share of a backend call: its logit and how long it queued and ran (ms)."""

    logit: float
    queue_ms: float
    inference_ms: float
    batch_size: int


@dataclass
class _Pending:
    pixels: np.ndarray
    ticket: Ticket
    future: asyncio.Future[BatchResult]
    enqueued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Collects preprocessed `[3, H, W]` images into batches for `infer`.

    Args:
        infer: the backend call, `[N, 3, H, W] -> [N]` logits (run in a worker thread).
        allocate: `n -> ` an empty `[n, 3, H, W]` batch array.
        max_batch: most images per call.
        max_wait_s: how long the first image of a batch waits for more.
        inflight: batches that may run at once.
        on_batch: called with each batch's size (a metric).
    """

    def __init__(
        self,
        infer: Callable[[np.ndarray], np.ndarray],
        allocate: Callable[[int], np.ndarray],
        *,
        max_batch: int,
        max_wait_s: float,
        inflight: int = 1,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        self._infer = infer
        self._allocate = allocate
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._queue: collections.deque[_Pending] = collections.deque()
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, inflight))
        self._pool = ThreadPoolExecutor(max(1, inflight), thread_name_prefix="pinclip-serve-infer")
        self._running: set[asyncio.Task[None]] = set()
        self._closing = False
        self._loop_task = asyncio.get_running_loop().create_task(self._collect_forever())

    async def submit(self, pixels: np.ndarray, ticket: Ticket) -> BatchResult:
        """Queue one image and wait for its batch; the ticket is released when the batch forms."""
        if self._closing:
            raise BackendError("the service is shutting down")
        pending = _Pending(pixels, ticket, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._arrived.set()
        try:
            return await pending.future
        except asyncio.CancelledError:  # its request timed out or left: drop its pixels now
            with contextlib.suppress(ValueError):  # already taken into a batch
                self._queue.remove(pending)
            raise

    async def close(self) -> None:
        """Stop taking images, run what is queued, wait for running batches, release the threads."""
        self._closing = True
        self._arrived.set()
        await self._loop_task
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._pool.shutdown(wait=True)

    async def _next(self, deadline: float | None) -> _Pending | None:
        """The next live image, waiting until `deadline` (None: forever); None when there is none."""
        while True:
            while self._queue:
                pending = self._queue.popleft()
                if not pending.future.done():  # its request timed out or left
                    return pending
                pending.ticket.release()
            if self._closing:
                return None
            self._arrived.clear()
            if deadline is None:
                await self._arrived.wait()
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                return None

    async def _collect_forever(self) -> None:
        while True:
            await self._slots.acquire()
            first = await self._next(None)
            if first is None:  # closing and nothing left
                self._slots.release()
                return
            batch = [first]
            deadline = first.enqueued + self.max_wait_s
            while len(batch) < self.max_batch:
                pending = await self._next(None if self._closing else deadline)
                if pending is None:
                    break
                batch.append(pending)
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Pending]) -> None:
        formed = time.perf_counter()
        for pending in batch:
            pending.ticket.release()
        self._on_batch(len(batch))
        try:
            logits, inference_ms = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._call, [p.pixels for p in batch]
            )
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear of it
            logger.exception("batch of %d failed", len(batch))
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        finally:
            self._slots.release()
        for pending, logit in zip(batch, logits, strict=True):
            if not pending.future.done():
                queue_ms = (formed - pending.enqueued) * 1000.0
                pending.future.set_result(BatchResult(float(logit), queue_ms, inference_ms, len(batch)))

    def _call(self, images: list[np.ndarray]) -> tuple[np.ndarray, float]:
        """Worker thread: copy the images into one batch array and run the backend."""
        batch = self._allocate(len(images))
        per_image = batch.reshape((len(images), -1) + batch.shape[1:])  # k rows per image (tiles view)
        for slot, pixels in zip(per_image, images, strict=True):
            slot[...] = pixels
        start = time.perf_counter()
        logits = np.asarray(self._infer(batch)).reshape(-1)
        if logits.shape[0] != len(images):
            raise BackendError(f"backend returned {logits.shape[0]} logits for a batch of {len(images)}")
        return logits, (time.perf_counter() - start) * 1000.0
