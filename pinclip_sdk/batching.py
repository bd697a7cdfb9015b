"""Overlapped batch pipeline and the bounded camera stream behind `Detector`.

`run_batches` keeps a small thread pool decoding and preprocessing the next items (Pillow and the
C++ core release the GIL) while the backend runs the current batch, so on a busy accelerator the
preprocessing cost is hidden. Each item is preprocessed straight into its slot of the batch array
the backend receives (no stacking copy). Results come back in input order; an item that fails to
decode is passed through as a failed `Prepared` and never stops the batch.

`FrameStream` serves cameras: a reader thread pulls frames into a bounded queue; when inference
falls behind, `drop_oldest` discards the stalest frame (live video wants the newest) and `block`
applies back-pressure to the reader. Each result carries its end-to-end latency.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pinclip_sdk.errors import ConfigError

logger = logging.getLogger(__name__)
POLICIES = ("drop_oldest", "block")


@dataclass
class Prepared:
    """One item after decode + preprocess: pixels `[3, H, W]`, or the error that stopped it."""

    source: str
    pixels: np.ndarray | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _timed_infer(infer: Callable[[np.ndarray], np.ndarray], batch: np.ndarray) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    logits = infer(batch)
    return logits, (time.perf_counter() - start) * 1000.0


def run_batches(
    items: Iterable[Any],
    prepare: Callable[[Any, np.ndarray], Prepared],
    infer: Callable[[np.ndarray], np.ndarray],
    allocate: Callable[[int], np.ndarray],
    *,
    batch_size: int = 8,
    workers: int = 2,
    inflight: int = 1,
) -> Iterator[tuple[Prepared, float | None, float, str | None]]:
    """Yield `(prepared, logit, inference_ms, error)` per item, in input order.

    `allocate(n)` returns an empty batch array for n items, `[n * k, 3, H, W]` (k rows per item: the
    tiles of the tiles view, else 1); `prepare(item, slot)` fills `slot` (that item's `[k, 3, H, W]`
    view of it) and returns the `Prepared`; `infer(batch)` returns one logit per item. `workers` threads run
    `prepare` up to `batch_size * (inflight + 2)` items ahead; up to `inflight` batches run `infer`
    concurrently (one more waits, queued, so the engine never idles while results are handed out).
    A batch with failed items is compacted (the only copy); a failing batch marks each of its items
    with the error.
    """
    window = batch_size * (inflight + 2)
    source = iter(items)
    preparing: collections.deque[Future[Prepared]] = collections.deque()
    buffers: collections.deque[np.ndarray] = collections.deque()
    submitted = 0
    batches: collections.deque[tuple[list[Prepared], Future | None]] = collections.deque()
    prep_pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="pinclip-prep")
    infer_pool = ThreadPoolExecutor(max(1, inflight), thread_name_prefix="pinclip-infer")
    exhausted = False

    def refill() -> None:
        nonlocal exhausted, submitted
        while not exhausted and len(preparing) < window:
            try:
                item = next(source)
            except StopIteration:
                exhausted = True
                return
            slot = submitted % batch_size
            if slot == 0:
                buffers.append(allocate(batch_size))
            rows = len(buffers[-1]) // batch_size
            preparing.append(prep_pool.submit(prepare, item, buffers[-1][slot * rows : (slot + 1) * rows]))
            submitted += 1

    try:
        while True:
            refill()
            while len(batches) <= inflight and (len(preparing) >= batch_size or (exhausted and preparing)):
                group = [preparing.popleft().result() for _ in range(min(batch_size, len(preparing)))]
                batch = _filled(buffers.popleft(), group)
                refill()
                future = infer_pool.submit(_timed_infer, infer, batch) if batch is not None else None
                batches.append((group, future))
            if not batches:
                if exhausted and not preparing:
                    return
                continue
            group, future = batches.popleft()
            yield from _batch_results(group, future)
    finally:
        for pending in preparing:
            pending.cancel()
        prep_pool.shutdown(wait=True, cancel_futures=True)
        infer_pool.shutdown(wait=True, cancel_futures=True)


def _filled(buffer: np.ndarray, group: list[Prepared]) -> np.ndarray | None:
    """The batch to score: the filled slots in place, or its good rows only when some item failed."""
    good = [i for i, prepared in enumerate(group) if prepared.pixels is not None]
    if not good:
        return None
    rows = len(group[good[0]].pixels)  # an item's rows: k tiles, else 1
    if len(good) == len(group):
        return buffer[: len(group) * rows]
    return np.concatenate([buffer[i * rows : (i + 1) * rows] for i in good])


def _batch_results(
    group: list[Prepared], future: Future | None
) -> Iterator[tuple[Prepared, float | None, float, str | None]]:
    logits: np.ndarray | None = None
    elapsed = 0.0
    batch_error = None
    if future is not None:
        try:
            logits, elapsed = future.result()
        except Exception as exc:  # a backend failure fails this batch's items, not the run
            logger.warning("inference failed for a batch of %d: %s", len(group), exc)
            batch_error = f"{type(exc).__name__}: {exc}"
    position = 0
    for prepared in group:
        if prepared.pixels is None:
            yield prepared, None, 0.0, prepared.error
            continue
        if logits is None:
            yield prepared, None, elapsed, batch_error
        else:
            yield prepared, float(logits[position]), elapsed, None
        position += 1


class FrameStream:
    """Iterate over predictions for a live source of frames (see `Detector.stream`).

    Attributes:
        received: frames read from the source.
        processed: frames scored (including failed ones).
        dropped: frames discarded by the `drop_oldest` policy because inference fell behind.
    """

    def __init__(
        self,
        frames: Iterable[Any],
        predict: Callable[[Any, int], Any],
        *,
        policy: str = "drop_oldest",
        maxsize: int = 2,
    ) -> None:
        if policy not in POLICIES:
            raise ConfigError(f"stream policy {policy!r} is not one of {POLICIES}")
        if maxsize < 1:
            raise ConfigError(f"stream maxsize must be >= 1, got {maxsize}")
        self.policy = policy
        self.maxsize = maxsize
        self.received = 0
        self.processed = 0
        self.dropped = 0
        self._predict = predict
        self._queue: collections.deque[tuple[int, Any, float]] = collections.deque()
        self._cond = threading.Condition()
        self._done = False
        self._closed = False
        self._reader_error: BaseException | None = None
        self._reader = threading.Thread(target=self._read, args=(frames,), name="pinclip-stream", daemon=True)
        self._reader.start()

    def _read(self, frames: Iterable[Any]) -> None:
        try:
            for frame in frames:
                arrived = time.perf_counter()
                with self._cond:
                    if self._closed:
                        break
                    while len(self._queue) >= self.maxsize and not self._closed:
                        if self.policy == "drop_oldest":
                            self._queue.popleft()
                            self.dropped += 1
                        else:
                            self._cond.wait()
                    self._queue.append((self.received, frame, arrived))
                    self.received += 1
                    self._cond.notify_all()
        except BaseException as exc:  # surfaced to the consumer, not lost in a thread
            self._reader_error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Any]:
        # The `finally` also runs when a consumer abandons the loop (`break`, an exception, or the
        # iterator garbage-collected): the reader stops instead of pulling frames for nobody.
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._done:
                        self._cond.wait()
                    if not self._queue:
                        break
                    index, frame, arrived = self._queue.popleft()
                    self._cond.notify_all()
                yield self._finish(self._predict(frame, index), arrived)
            if self._reader_error is not None:
                raise self._reader_error
        finally:
            self.close()

    def _finish(self, prediction: Any, arrived: float) -> Any:
        self.processed += 1
        timings = dict(prediction.timings)
        timings["latency"] = (time.perf_counter() - arrived) * 1000.0
        return replace(prediction, timings=timings)

    def stats(self) -> dict[str, int]:
        return {"received": self.received, "processed": self.processed, "dropped": self.dropped}

    def close(self) -> None:
        """Stop reading; a reader blocked inside the source's own `next()` stops after it returns."""
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
