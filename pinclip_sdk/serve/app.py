"""The Starlette application: routes, model loading and warm-up, and the detection path.

The model loads in a worker thread after the server starts listening, so `/healthz` answers at
once and `/readyz` turns 200 only when the detector is loaded and warmed (the first batch of each
size is slow on every engine). Each image is decoded and preprocessed in a thread pool by the
`Detector`'s own steps (the C++ core and Pillow release the GIL), scored through the
`MicroBatcher`, and labelled by the detector's decision rule: the service holds no second copy of
either.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pinclip_sdk.errors import BackendError, ImageTooLargeError, PinclipError
from pinclip_sdk.prediction import Prediction
from pinclip_sdk.serve.batcher import MicroBatcher
from pinclip_sdk.serve.limits import (
    Admission,
    RequestRejected,
    ServeConfig,
    Ticket,
    body_kind,
    check_api_key,
    check_declared_length,
    limited,
    overloaded,
)
from pinclip_sdk.serve.metrics import MetricsMiddleware, ServeMetrics

logger = logging.getLogger(__name__)
MAX_FILES = 256  # file fields in one multipart request


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON without NaN (invalid JSON); values JSON cannot hold (paths) as strings."""
    body = json.dumps(data, default=str, allow_nan=False, separators=(",", ":"))
    return Response(body, status, headers, media_type="application/json")


def error_response(exc: RequestRejected) -> Response:
    return json_response({"error": exc.message, "status": exc.status}, exc.status, exc.headers)


class ServeState:
    """The loaded detector and everything shared by the routes; `fatal` is why loading failed."""

    def __init__(self, load: Callable[[], Any], config: ServeConfig, on_fatal: Callable[[], None]) -> None:
        self.load = load
        self.config = config
        self.on_fatal = on_fatal
        self.metrics = ServeMetrics()
        self.admission = Admission(config.max_queue, self.metrics.queue_depth.set)
        self.detector: Any = None
        self.batcher: MicroBatcher | None = None
        self.prep_pool: ThreadPoolExecutor | None = None
        self.ready = threading.Event()
        self.fatal: str | None = None

    # ---- lifetime ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Load and warm the model in a thread; on failure record why and stop the server."""
        try:
            detector = await asyncio.to_thread(self.load)
            self.detector = detector
            # the service's pixel limit, enforced by the detector on every decode (on the header)
            detector.preprocessor.max_pixels = self.config.max_pixels
            workers = self.config.preprocess_workers or detector.preprocess_workers
            self.prep_pool = ThreadPoolExecutor(workers, thread_name_prefix="pinclip-serve-prep")
            self.batcher = MicroBatcher(
                # the Detector's own backend call and batch layout
                detector.infer_batch,
                detector.new_batch,
                max_batch=self.config.max_batch,
                max_wait_s=self.config.max_wait_ms / 1000.0,
                inflight=max(1, int(getattr(detector.backend, "concurrency", 1))),
                on_batch=self.metrics.batch_size.observe,
            )
            await asyncio.to_thread(self._warm_up)
        except Exception as exc:  # noqa: BLE001 - any failure to load means the service cannot serve
            self.fatal = f"{type(exc).__name__}: {exc}"
            logger.error("pinclip serve: cannot load the model: %s", self.fatal)
            self.on_fatal()
            return
        self.ready.set()
        logger.info("pinclip serve: %s ready (%s)", detector.model_id, detector.choice.reason)

    def _warm_up(self) -> None:
        """Run every stage once: a decode and preprocess, then each batch size the batcher can form
        up to `max_batch` (engines plan per shape on first use)."""
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (120, 80, 200)).save(buffer, format="PNG")
        prepared = self.prepare(buffer.getvalue(), None)
        for n in sorted({1, 2, self.config.max_batch} & set(range(1, self.config.max_batch + 1))):
            batch = self.detector.new_batch(n)
            batch.reshape((n, -1) + batch.shape[1:])[...] = prepared.pixels
            self.detector.infer_batch(batch)

    async def stop(self) -> None:
        """After uvicorn has answered every in-flight request: drain the batcher, release the model."""
        if self.batcher is not None:
            await self.batcher.close()
        if self.prep_pool is not None:
            self.prep_pool.shutdown(wait=True)
        if self.detector is not None:
            self.detector.close()

    # ---- the detection path -------------------------------------------------------------------
    def prepare(self, data: bytes, ticket: Ticket | None) -> Any:
        """Worker thread: the Detector's decode + preprocess of one upload (typed errors raised)."""
        if ticket is not None and ticket.released:
            raise asyncio.CancelledError  # its request already gave up: skip the work
        # Detector.prepare is the one place inputs are decoded
        return self.detector.prepare(data, "rgb", raise_errors=True)

    async def score(self, data: bytes, ticket: Ticket, source: str | None) -> tuple[int, dict[str, Any]]:
        """One image's `(status, result)`: 200 and the prediction, or the typed error's status."""
        start = time.perf_counter()
        assert self.prep_pool is not None
        assert self.batcher is not None
        try:
            prepared = await asyncio.get_running_loop().run_in_executor(
                self.prep_pool, self.prepare, data, ticket
            )
            if source is not None:
                prepared.source = source
            result = await self.batcher.submit(prepared.pixels, ticket)
        except ImageTooLargeError as exc:
            return 413, self._failed(exc, source)
        except PinclipError as exc:  # InvalidImageError and its kin: the upload cannot be scored
            status = 500 if isinstance(exc, BackendError) else 422
            return status, self._failed(exc, source)
        except Exception as exc:  # noqa: BLE001 - an engine failure fails this image, not the request
            logger.exception("pinclip serve: scoring failed")
            return 500, self._failed(exc, source)
        finally:
            ticket.release()
        prepared.timings["queue"] = result.queue_ms
        prepared.timings["inference"] = result.inference_ms
        prepared.timings["total"] = (time.perf_counter() - start) * 1000.0
        prediction = self.detector.to_prediction(prepared, result.logit)
        self.metrics.observe_stages(prediction.timings)
        self.metrics.images.labels(prediction.label).inc()
        return (200 if prediction.ok else 500), {**prediction.to_dict(), "batch_size": result.batch_size}

    def _failed(self, exc: Exception, source: str | None) -> dict[str, Any]:
        self.metrics.images.labels("error").inc()
        return Prediction.failed(
            f"{type(exc).__name__}: {exc}",
            threshold=self.detector.rule.threshold,
            model_id=self.detector.model_id,
            source=source,
        ).to_dict()


# ---- routes ---------------------------------------------------------------------------------
def _state(request: Request) -> ServeState:
    return request.app.state.serve


def _require_ready(state: ServeState) -> None:
    if not state.ready.is_set():
        raise overloaded("the model is loading; retry later")


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = _state(request)
    if state.ready.is_set():
        return json_response({"status": "ready", "model_id": state.detector.model_id})
    status = "failed" if state.fatal else "loading"
    return json_response({"status": status, "error": state.fatal}, 503, {"Retry-After": "1"})


async def model_info(request: Request) -> Response:
    state = _state(request)
    try:
        check_api_key(request.headers.get("authorization"), state.config.api_key)
        _require_ready(state)
    except RequestRejected as exc:
        return error_response(exc)
    return json_response({**state.detector.info(), "serving": state.config.public()})


async def metrics(request: Request) -> Response:
    state = _state(request)
    try:
        check_api_key(request.headers.get("authorization"), state.config.api_key)
    except RequestRejected as exc:
        return error_response(exc)
    return Response(state.metrics.render(), media_type=state.metrics.content_type)


async def detect(request: Request) -> Response:
    """`POST /v1/detect`: one raw image, or multipart `file` fields answered as `{"results": [...]}`."""
    state = _state(request)
    config = state.config
    tickets: list[Ticket] = []
    try:
        check_api_key(request.headers.get("authorization"), config.api_key)
        _require_ready(state)
        kind = body_kind(request.headers.get("content-type"))
        check_declared_length(request.headers.get("content-length"), config.max_body_bytes)
        tickets = state.admission.reserve(1)  # before reading: waiting bodies are bounded too
        try:
            # the deadline covers reading the body; asyncio.timeout would need Python 3.11
            return await asyncio.wait_for(_answer(state, request, kind, tickets), config.timeout_s)
        except asyncio.TimeoutError:
            raise RequestRejected(
                504, f"no answer within the request timeout of {config.timeout_s:g} s"
            ) from None
    except RequestRejected as exc:
        return error_response(exc)
    finally:
        for ticket in tickets:
            ticket.release()


async def _answer(state: ServeState, request: Request, kind: str, tickets: list[Ticket]) -> Response:
    """Read the body (within the size limit) and score it: one result, or `{"results": [...]}`."""
    body = limited(request.stream(), state.config.max_body_bytes)
    if kind == "raw":
        data = b"".join([chunk async for chunk in body])
        status, result = await state.score(data, tickets[0], None)
        if status != 200:
            return json_response({**result, "status": status}, status)
        return json_response(result)
    return json_response({"results": await _detect_files(state, request, body, tickets)})


async def _detect_files(
    state: ServeState, request: Request, body: AsyncIterator[bytes], tickets: list[Ticket]
) -> list[dict[str, Any]]:
    """Score each `file` field of a multipart body concurrently; results (errors too) in field order."""
    parser = MultiPartParser(request.headers, body, max_files=MAX_FILES, max_fields=MAX_FILES)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise RequestRejected(422, f"invalid multipart body: {exc.message}") from None
    try:
        uploads = [
            value for key, value in form.multi_items() if key == "file" and isinstance(value, UploadFile)
        ]
        if not uploads:
            raise RequestRejected(422, "the multipart body has no `file` field")
        tickets.extend(state.admission.reserve(len(uploads) - 1, held=1))
        datas = [await upload.read() for upload in uploads]
        answers = await asyncio.gather(
            *(state.score(data, t, u.filename) for data, t, u in zip(datas, tickets, uploads, strict=True))
        )
    finally:
        await form.close()
    return [result if status == 200 else {**result, "status": status} for status, result in answers]


def create_app(
    load: Callable[[], Any], config: ServeConfig, *, on_fatal: Callable[[], None] = lambda: None
) -> Starlette:
    """The service around the detector `load()` returns (called once, in a thread, after startup).

    `on_fatal` is called when loading fails (the CLI stops the server and exits 1).
    """
    state = ServeState(load, config, on_fatal)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loading = asyncio.get_running_loop().create_task(state.start())
        try:
            yield
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await loading  # a load still running finishes (a thread cannot be stopped)
            await state.stop()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = exc.detail or "error"
        return json_response({"error": message, "status": exc.status_code}, exc.status_code, exc.headers)

    app = Starlette(
        exception_handlers={HTTPException: http_error},  # 404, 405 as JSON like every refusal
        routes=[
            Route("/v1/detect", detect, methods=["POST"]),
            Route("/v1/model", model_info, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.serve = state
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app


__all__ = ["ServeState", "create_app", "json_response"]
