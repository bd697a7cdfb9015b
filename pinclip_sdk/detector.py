"""`Detector`: score images for being AI-generated with a model bundle, without PyTorch.

The detector loads a `*.pinclip` bundle (schema checked, every artifact it runs hash-verified),
picks a backend (`backend="auto"`: TensorRT on NVIDIA GPUs, else the faster of OpenVINO and
onnxruntime as measured on this machine), preprocesses through the C++ core exactly as in
training, and turns the logit into a calibrated `Prediction` using the bundle's threshold and
uncertain band.

Example:
    >>> from pinclip_sdk import Detector                        # doctest: +SKIP
    >>> with Detector("model.pinclip") as detector:             # doctest: +SKIP
    ...     print(detector.predict("photo.jpg").label)
    real
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from pinclip_sdk.backends.base import Backend, check_input_size
from pinclip_sdk.backends.select import choose_backend
from pinclip_sdk.batching import FrameStream, Prepared, run_batches
from pinclip_sdk.bundle import Bundle
from pinclip_sdk.errors import BackendError, BundleError, ConfigError, InvalidImageError, PinclipError
from pinclip_sdk.prediction import DecisionRule, Prediction, sigmoid

logger = logging.getLogger(__name__)
FROM_BUNDLE: Any = "bundle"  # default of `uncertain_band`: use the manifest's band
CHANNEL_ORDERS = ("rgb", "bgr")


def describe_input(x: Any) -> str:
    """A short, log-safe description of an input (paths as given; never the pixel data)."""
    if isinstance(x, (str, os.PathLike)):
        return os.fspath(x)
    if isinstance(x, (bytes, bytearray, memoryview)):
        return f"<bytes: {len(x)}>"
    if isinstance(x, np.ndarray):
        return f"<ndarray {x.dtype} {tuple(x.shape)}>"
    name = getattr(x, "name", None)  # open files
    if isinstance(name, str):
        return name
    size = getattr(x, "size", None)
    if hasattr(x, "mode") and isinstance(size, tuple):
        return f"<PIL.Image {x.mode} {size[0]}x{size[1]}>"
    return f"<{type(x).__name__}>"


def _needs_decode(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike, bytes, bytearray, memoryview)) or (
        hasattr(x, "read") and not isinstance(x, np.ndarray)
    )


class Detector:
    """An AI-generated-image detector loaded from a model bundle.

    Args:
        bundle: a `*.pinclip` directory or a loaded `Bundle`.
        backend: `auto`, `onnxruntime`, `openvino` or `tensorrt`.
        threads: inference threads (onnxruntime intra-op, OpenVINO `INFERENCE_NUM_THREADS`);
            None lets the engine decide (all cores).
        precision: `auto` (INT8 on CPU backends, FP16 on TensorRT when present), `fp32`, `fp16`, `int8`.
        threshold: override the bundle's decision threshold on p_fake.
        uncertain_band: `(lo, hi)` to label p_fake in `[lo, hi)` as uncertain, None to disable;
            by default the bundle's band.
        backend_options: per-backend load options, e.g. `{"openvino": {"performance_hint": "THROUGHPUT"}}`.
        preprocess_workers: threads decoding and preprocessing ahead of inference in batch calls.
        exif_transpose: rotate / flip decoded files by their EXIF orientation (phone photos) before
            scoring. None (default) does what the bundle's spec records training did (`preprocess.
            exif_transpose`, False unless set: the stored pixels, as open_clip sees them).

    Raises:
        BundleError: missing, truncated, tampered or unknown-schema bundle.
        BackendUnavailableError: the backend cannot run here (names the extra to install).
    """

    def __init__(
        self,
        bundle: str | os.PathLike | Bundle,
        backend: str = "auto",
        threads: int | None = None,
        precision: str = "auto",
        *,
        threshold: float | None = None,
        uncertain_band: tuple[float, float] | None = FROM_BUNDLE,
        backend_options: Mapping[str, Mapping[str, Any]] | None = None,
        preprocess_workers: int | None = None,
        exif_transpose: bool | None = None,
    ) -> None:
        from pinclip_sdk.preprocess import Preprocessor

        if threads is not None and int(threads) < 1:
            raise ConfigError(f"threads must be >= 1 or None, got {threads!r}")
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
        manifest = self.bundle.manifest
        self.model_id = manifest.model_id
        self.rule = _decision_rule(manifest.threshold, threshold, uncertain_band)
        self.preprocessor = Preprocessor(manifest.preprocess, exif_transpose=exif_transpose)
        self.preprocess_workers = preprocess_workers or min(4, os.cpu_count() or 1)
        options = {k: dict(v) for k, v in (backend_options or {}).items()}
        self._backend, self.choice = choose_backend(self.bundle, backend, precision, threads, options)
        try:
            check_input_size(self._backend, manifest.preprocess, str(self.bundle.root))
        except BundleError:
            self._backend.close()
            raise
        self._closed = False
        self._lock = threading.Lock()
        logger.info("Detector %s: %s", self.model_id, self.choice.reason)

    # ---- single items -------------------------------------------------------------------
    def predict(self, x: Any, *, channel_order: str = "rgb") -> Prediction:
        """Score one image: a path, bytes, binary file object, PIL image, numpy HWC uint8 array
        (RGB or BGR by `channel_order`, RGBA, gray) or a `YUVFrame`.

        Raises:
            InvalidImageError: the input cannot be decoded or has the wrong shape or dtype.
        """
        start = time.perf_counter()
        prepared = self._prepare(x, channel_order, raise_errors=True)
        infer_start = time.perf_counter()
        logit = float(self._infer(prepared.pixels[None])[0])
        prepared.timings["inference"] = (time.perf_counter() - infer_start) * 1000.0
        prepared.timings["total"] = (time.perf_counter() - start) * 1000.0
        return self._prediction(prepared, logit)

    async def apredict(self, x: Any, *, channel_order: str = "rgb") -> Prediction:
        """`predict` for asyncio code (a web handler): runs in the loop's default executor, so the
        event loop keeps serving while the image is decoded and scored."""
        call = functools.partial(self.predict, x, channel_order=channel_order)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def _prepare(
        self, x: Any, channel_order: str, out: np.ndarray | None = None, *, raise_errors: bool = False
    ) -> Prepared:
        """Decode (for encoded inputs) and preprocess one item, timing both stages.

        With `out` (a `[1, 3, H, W]` slot of a batch array) the pixels are written there in place.
        """
        from pinclip_sdk.preprocess import load_image

        prepared = Prepared(describe_input(x))
        try:
            _check_channel_order(channel_order)
            start = time.perf_counter()
            if _needs_decode(x):
                x = load_image(
                    bytes(x) if isinstance(x, (bytearray, memoryview)) else x,
                    exif_transpose=self.preprocessor.exif_transpose,
                    max_pixels=self.preprocessor.max_pixels,
                )
            decoded = time.perf_counter()
            prepared.pixels = self.preprocessor.batch([x], out, channel_order=channel_order)[0]
            prepared.timings["decode"] = (decoded - start) * 1000.0
            prepared.timings["preprocess"] = (time.perf_counter() - decoded) * 1000.0
        except PinclipError as exc:
            if raise_errors:
                raise
            prepared.error = f"{type(exc).__name__}: {exc}"
        except (OSError, ValueError, TypeError) as exc:  # unreadable path, foreign object
            if raise_errors:
                raise InvalidImageError(f"{prepared.source}: cannot use this input ({exc})") from exc
            prepared.error = f"{type(exc).__name__}: {exc}"
        return prepared

    def _new_batch(self, n: int) -> np.ndarray:
        return self.preprocessor.empty_batch(n)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        backend = self._backend
        if self._closed or backend is None:
            raise BackendError(f"Detector for {self.model_id} is closed")
        return backend.infer(batch)

    def _prediction(self, prepared: Prepared, logit: float | None, error: str | None = None) -> Prediction:
        if error is None and logit is not None and math.isnan(logit):
            # never let a broken engine's NaN read as "real" (NaN >= threshold is False)
            error = f"BackendError: {self.choice.backend} returned NaN for this image"
        if error is not None or logit is None:
            return Prediction.failed(
                error or "unknown error",
                threshold=self.rule.threshold,
                model_id=self.model_id,
                source=prepared.source,
                **prepared.timings,
            )
        p_fake = sigmoid(logit)
        label = self.rule.label(p_fake)
        return Prediction(
            p_fake, label, self.rule.threshold, self.model_id, prepared.timings, logit, prepared.source
        )

    # ---- many items ---------------------------------------------------------------------
    def predict_paths(
        self, items: Iterable[Any], *, batch_size: int = 8, channel_order: str = "rgb"
    ) -> Iterator[Prediction]:
        """Score many inputs (usually paths) through the overlapped pipeline, yielding in input order.

        An item that fails (unreadable file, bad array) yields a `Prediction` with `label == "error"`
        and `error` set; the other items are unaffected.
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        _check_channel_order(channel_order)
        return self._predict_iter(items, batch_size, channel_order)

    def _predict_iter(
        self, items: Iterable[Any], batch_size: int, channel_order: str
    ) -> Iterator[Prediction]:
        results = run_batches(
            items,
            lambda item, slot: self._prepare(item, channel_order, slot),
            self._infer,
            self._new_batch,
            batch_size=batch_size,
            workers=self.preprocess_workers,
            inflight=max(1, int(getattr(self._backend, "concurrency", 1))),
        )
        for prepared, logit, inference_ms, error in results:
            if error is None:
                prepared.timings["inference"] = inference_ms
            yield self._prediction(prepared, logit, error)

    def predict_batch(
        self, items: Iterable[Any], batch_size: int = 8, *, channel_order: str = "rgb"
    ) -> list[Prediction]:
        """`predict_paths` collected into a list (one result per input, failures included)."""
        return list(self.predict_paths(items, batch_size=batch_size, channel_order=channel_order))

    def stream(
        self,
        frames: Iterable[Any],
        *,
        policy: str = "drop_oldest",
        maxsize: int = 2,
        channel_order: str = "rgb",
    ) -> FrameStream:
        """Score a live source of frames (camera `YUVFrame`s, arrays) through a bounded queue.

        Iterate the returned `FrameStream` for predictions (each with `timings["latency"]`, the
        time from the frame's arrival to its result, and `source` = `frame <n>`); its `dropped`
        counts frames skipped by `drop_oldest` when inference falls behind; `block` instead
        stalls the reader.
        """

        _check_channel_order(channel_order)

        def predict_frame(frame: Any, index: int) -> Prediction:
            start = time.perf_counter()
            prepared = self._prepare(frame, channel_order)
            prepared.source = f"frame {index}"
            if prepared.error is not None:
                return self._prediction(prepared, None, prepared.error)
            infer_start = time.perf_counter()
            try:
                logit = float(self._infer(prepared.pixels[None])[0])
            except PinclipError as exc:
                return self._prediction(prepared, None, f"{type(exc).__name__}: {exc}")
            prepared.timings["inference"] = (time.perf_counter() - infer_start) * 1000.0
            prepared.timings["total"] = (time.perf_counter() - start) * 1000.0
            return self._prediction(prepared, logit)

        return FrameStream(frames, predict_frame, policy=policy, maxsize=maxsize)

    # ---- introspection and lifetime ----------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What runs and why: backend, precision, the reason for the choice, threshold, model."""
        manifest = self.bundle.manifest
        backend_info = self._backend.info() if self._backend is not None else {}
        return {
            "model_id": self.model_id,
            "bundle": str(self.bundle.root),
            "backbone": manifest.backbone,
            "backend": self.choice.backend,
            "precision": self.choice.precision,
            "reason": self.choice.reason,
            "measurements_ms": self.choice.measurements_ms,
            "backend_info": backend_info,
            "threshold": self.rule.threshold,
            "threshold_method": manifest.threshold.method,
            "uncertain_band": self.rule.uncertain_band,
            "preprocess": manifest.preprocess.to_dict(),
            "preprocess_workers": self.preprocess_workers,
        }

    @property
    def backend(self) -> Backend:
        """The loaded backend (for benchmarks and direct `infer` on preprocessed batches)."""
        if self._backend is None:
            raise BackendError(f"Detector for {self.model_id} is closed")
        return self._backend

    def close(self) -> None:
        """Release the backend (sessions, compiled models, device buffers). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.choice.backend}/{self.choice.precision}"
        return f"Detector({self.model_id!r}, {state})"


def _check_channel_order(channel_order: str) -> None:
    if channel_order not in CHANNEL_ORDERS:
        raise ConfigError(f"channel_order {channel_order!r} is not one of {CHANNEL_ORDERS}")


def _decision_rule(bundle_threshold: Any, threshold: float | None, band: Any) -> DecisionRule:
    value = bundle_threshold.value if threshold is None else threshold
    chosen_band = bundle_threshold.uncertain_band if band is FROM_BUNDLE else band
    try:
        return DecisionRule(value, chosen_band)
    except ConfigError as exc:
        if band is FROM_BUNDLE and threshold is not None:
            raise ConfigError(
                f"{exc}; the bundle's uncertain band does not contain threshold {threshold}: "
                "pass uncertain_band=(lo, hi) or uncertain_band=None"
            ) from None
        raise


__all__ = ["FROM_BUNDLE", "Detector", "describe_input"]
