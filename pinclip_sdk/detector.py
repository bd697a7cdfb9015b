"""`Detector`: score images for being AI-generated with a model bundle, without PyTorch.

The detector loads a `*.pinclip` bundle (schema checked, every artifact it runs hash-verified),
picks a backend (`backend="auto"`: TensorRT on NVIDIA GPUs, else the faster of OpenVINO and
onnxruntime as measured on this machine), preprocesses through the C++ core exactly as in
training, and turns the logit into a calibrated `Prediction` using the bundle's threshold and
uncertain band. `predict_video` samples a video's frames (PyAV, the `video` extra) through the same
batched pipeline and aggregates them into a `VideoPrediction`. With `evidence=True` it also reports
what a file says about its own origin (C2PA, XMP, PNG text, EXIF) beside the score, never in it.

Example:
    >>> from pinclip_sdk import Detector                        # doctest: +SKIP
    >>> with Detector("model.pinclip") as detector:             # doctest: +SKIP
    ...     print(detector.predict("photo.jpg").label)
    real
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.backends.base import Backend, check_input_size
from pinclip_sdk.backends.select import choose_backend
from pinclip_sdk.batching import FrameStream, Prepared, run_batches
from pinclip_sdk.bundle import Bundle
from pinclip_sdk.errors import (
    BackendError,
    BundleError,
    ConfigError,
    InvalidImageError,
    PinclipError,
    VideoError,
)
from pinclip_sdk.prediction import (
    AGGREGATES,
    DecisionRule,
    FrameScore,
    Prediction,
    VideoPrediction,
    aggregate_frames,
    sigmoid,
)
from pinclip_sdk.video import Sampling, VideoFrame
from pinclip_sdk.views import image_logits

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


@dataclass
class _Prepared(Prepared):
    """`Prepared` plus the provenance findings read beside it (None: not read)."""

    evidence: tuple[dict[str, Any], ...] | None = None
    generated_trusted: bool = False


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
        evidence: read provenance (C2PA, XMP, PNG text, EXIF) from file and bytes inputs into
            `Prediction.evidence`; the score is never changed by it. Off by default.
        trust_anchors: PEM text, or the path of a PEM file, of the C2PA signers to trust (implies
            nothing on its own: `evidence=True` reads with it).
        provenance_sets_label: set `label="fake"` (and `label_source="provenance"`) when trusted,
            valid provenance declares the file generated. Off by default: the label is the model's.

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
        evidence: bool = False,
        trust_anchors: str | os.PathLike | None = None,
        provenance_sets_label: bool = False,
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
        if provenance_sets_label and not evidence:
            raise ConfigError("provenance_sets_label=True needs evidence=True (the provenance must be read)")
        self.provenance_sets_label = bool(provenance_sets_label)
        self._evidence = _EvidenceReader(trust_anchors) if evidence else None
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
        prepared = self.prepare(x, channel_order, raise_errors=True)
        infer_start = time.perf_counter()
        logit = float(self.infer_batch(prepared.pixels)[0])
        prepared.timings["inference"] = (time.perf_counter() - infer_start) * 1000.0
        prepared.timings["total"] = (time.perf_counter() - start) * 1000.0
        return self.to_prediction(prepared, logit)

    async def apredict(self, x: Any, *, channel_order: str = "rgb") -> Prediction:
        """`predict` for asyncio code (a web handler): runs in the loop's default executor, so the
        event loop keeps serving while the image is decoded and scored."""
        call = functools.partial(self.predict, x, channel_order=channel_order)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    # ---- the pipeline's steps (public for services that batch across requests: `pinclip serve`) --
    def prepare(
        self, x: Any, channel_order: str = "rgb", out: np.ndarray | None = None, *, raise_errors: bool = False
    ) -> Prepared:
        """Step 1: decode (for encoded inputs) and preprocess one item, timing both stages.

        With `out` (the item's `[k, 3, H, W]` rows of a batch array; k = 1 except for the tiles view)
        the pixels are written there in place; `pixels` is that `[k, 3, H, W]` array.
        """

        prepared = _Prepared(describe_input(x))
        try:
            _check_channel_order(channel_order)
            start = time.perf_counter()
            original = None
            if isinstance(x, VideoFrame):
                x = x.rgb()
            elif _needs_decode(x):
                if self._evidence is not None and hasattr(x, "read"):
                    x = x.read()  # read once, for both the decoder and the evidence reader
                original = bytes(x) if isinstance(x, (bytearray, memoryview)) else x
                x = self.preprocessor.decode(original)  # only the regions a crop / tiles view reads
            decoded = time.perf_counter()
            prepared.pixels = self.preprocessor.batch([x], out, channel_order=channel_order)
            prepared.timings["decode"] = (decoded - start) * 1000.0
            prepared.timings["preprocess"] = (time.perf_counter() - decoded) * 1000.0
            if self._evidence is not None and original is not None:
                self._read_evidence(original, prepared)
        except PinclipError as exc:
            if raise_errors:
                raise
            prepared.error = f"{type(exc).__name__}: {exc}"
        except (OSError, ValueError, TypeError) as exc:  # unreadable path, foreign object
            if raise_errors:
                raise InvalidImageError(f"{prepared.source}: cannot use this input ({exc})") from exc
            prepared.error = f"{type(exc).__name__}: {exc}"
        return prepared

    def _read_evidence(self, source: Any, prepared: _Prepared) -> None:
        """Provenance findings of a file or bytes into `prepared` (never raises: see `_EvidenceReader`)."""
        assert self._evidence is not None
        start = time.perf_counter()
        prepared.evidence, prepared.generated_trusted = self._evidence.read(source)
        prepared.timings["evidence"] = (time.perf_counter() - start) * 1000.0

    def new_batch(self, n: int) -> np.ndarray:
        """An uninitialised input batch for `n` images (`[n * k, 3, H, W]`, k rows per image: the
        tiles of the tiles view, else 1) in the layout the backend reads."""
        return self.preprocessor.empty_batch(n)

    def infer_batch(self, batch: np.ndarray) -> np.ndarray:
        """Step 2: one logit per image of a preprocessed batch (the tiles view's k rows per image
        reduced by the bundle's `tile_reduce`)."""
        backend = self._backend
        if self._closed or backend is None:
            raise BackendError(f"Detector for {self.model_id} is closed")
        return image_logits(backend.infer(batch), self.bundle.manifest.preprocess)

    def to_prediction(self, prepared: Prepared, logit: float | None, error: str | None = None) -> Prediction:
        """Step 3: the calibrated `Prediction` for one item's logit (or its error)."""
        evidence = getattr(prepared, "evidence", None)
        if error is None and logit is not None and math.isnan(logit):
            # never let a broken engine's NaN read as "real" (NaN >= threshold is False)
            error = f"BackendError: {self.choice.backend} returned NaN for this image"
        if error is not None or logit is None:
            return Prediction.failed(
                error or "unknown error",
                threshold=self.rule.threshold,
                model_id=self.model_id,
                source=prepared.source,
                evidence=evidence,
                **prepared.timings,
            )
        p_fake = sigmoid(logit)
        label, label_source = self._label(
            self.rule.label(p_fake), getattr(prepared, "generated_trusted", False)
        )
        return Prediction(
            p_fake,
            label,
            self.rule.threshold,
            self.model_id,
            prepared.timings,
            logit,
            prepared.source,
            evidence=evidence,
            label_source=label_source,
        )

    def _label(self, label: str, generated_trusted: bool) -> tuple[str, str]:
        """The model's label, or `fake` from trusted provenance when `provenance_sets_label` is on."""
        if self.provenance_sets_label and generated_trusted and label != "error":
            return "fake", "provenance"
        return label, "model"

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
            lambda item, slot: self.prepare(item, channel_order, slot),
            self.infer_batch,
            self.new_batch,
            batch_size=batch_size,
            workers=self.preprocess_workers,
            inflight=max(1, int(getattr(self._backend, "concurrency", 1))),
        )
        for prepared, logit, inference_ms, error in results:
            if error is None:
                prepared.timings["inference"] = inference_ms
            yield self.to_prediction(prepared, logit, error)

    def predict_batch(
        self, items: Iterable[Any], batch_size: int = 8, *, channel_order: str = "rgb"
    ) -> list[Prediction]:
        """`predict_paths` collected into a list (one result per input, failures included)."""
        return list(self.predict_paths(items, batch_size=batch_size, channel_order=channel_order))

    # ---- videos -------------------------------------------------------------------------
    def predict_video(
        self,
        source: Any,
        *,
        every_s: float | None = None,
        frames: int | None = None,
        keyframes: bool = False,
        aggregate: str = "mean_logit",
        batch_size: int = 8,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> VideoPrediction:
        """Score a video (a path, bytes or binary file of an mp4, mov, mkv, webm, avi, ...).

        Frames are sampled one every `every_s` seconds (0: every frame; the default is one a
        second), as exactly `frames` frames spread over the duration, or `keyframes` only, decoded
        as they are needed (memory stays bounded on long videos) and scored through the same
        batched pipeline as `predict_batch`. Each frame's score is what `predict` gives for that
        decoded frame; `aggregate` (`mean_logit`, `max`, `fraction_above`; docs/video.md) turns
        them into the video's p_fake and label. `progress(done, expected)` is called after each
        scored frame (`expected` may be None).

        Decoding that stops early (corrupt data, a truncated file) still scores the frames read
        before it: the result has `partial=True` and `error` saying why.

        Raises:
            VideoError: not a video container, no video stream, or no frame could be decoded.
            ConfigError: conflicting sampling options, unknown `aggregate`.
            BackendUnavailableError: PyAV is not installed (the `video` extra).
        """
        from pinclip_sdk.video import VideoReader

        if aggregate not in AGGREGATES:
            raise ConfigError(f"aggregate {aggregate!r} is not one of {AGGREGATES}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        sampling = Sampling(every_s, frames, bool(keyframes))
        start = time.perf_counter()
        what = describe_input(source)
        data = bytes(source) if isinstance(source, (bytearray, memoryview)) else source
        with contextlib.ExitStack() as stack:
            evidence_future = None
            if self._evidence is not None and isinstance(data, (str, os.PathLike, bytes)):
                pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(1, "pinclip-evidence"))
                evidence_future = pool.submit(self._evidence.read, data)
            reader = stack.enter_context(VideoReader(data, sampling, max_pixels=self.preprocessor.max_pixels))
            scored, timings, errors = self._score_frames(reader, batch_size, progress)
            evidence, generated_trusted = evidence_future.result() if evidence_future else (None, False)
        timings["total"] = (time.perf_counter() - start) * 1000.0
        if not scored and not errors:
            reason = reader.error or f"no frame in the stream ({sampling.describe()})"
            raise VideoError(f"{what}: no frame could be decoded: {reason}")
        error = reader.error
        if errors:
            error = f"{len(errors)} frames not scored ({errors[0]})" + (f"; {error}" if error else "")
        p_fake, label, threshold = aggregate_frames(tuple(scored), self.rule, aggregate)
        label, label_source = self._label(label, generated_trusted)
        return VideoPrediction(
            p_fake,
            label,
            threshold,
            self.rule.threshold,
            self.model_id,
            tuple(scored),
            aggregate,
            timings,
            partial=reader.partial,
            error=error,
            evidence=evidence,
            label_source=label_source,
            source=what,
        )

    def _score_frames(
        self, reader: Any, batch_size: int, progress: Callable[[int, int | None], None] | None
    ) -> tuple[list[FrameScore], dict[str, float], list[str]]:
        """Run `reader`'s frames through `run_batches`; decode is timed where it happens (the reader)."""
        timings = {"decode": 0.0, "preprocess": 0.0, "inference": 0.0}
        lock = threading.Lock()

        def decoded() -> Iterator[VideoFrame]:
            frames = iter(reader)
            while True:
                begin = time.perf_counter()
                frame = next(frames, None)
                timings["decode"] += (time.perf_counter() - begin) * 1000.0
                if frame is None:
                    return
                yield frame

        def infer(batch: np.ndarray) -> np.ndarray:
            begin = time.perf_counter()
            logits = self.infer_batch(batch)
            with lock:
                timings["inference"] += (time.perf_counter() - begin) * 1000.0
            return logits

        frames: dict[int, VideoFrame] = {}

        def prepare(frame: VideoFrame, slot: np.ndarray) -> Prepared:
            prepared = self.prepare(frame, "rgb", slot)
            prepared.source = str(frame.index)
            return prepared

        def remember(source: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
            for frame in source:
                frames[frame.index] = frame
                yield frame

        scored: list[FrameScore] = []
        errors: list[str] = []
        expected = reader.expected()
        results = run_batches(
            remember(decoded()),
            prepare,
            infer,
            self.new_batch,
            batch_size=batch_size,
            workers=self.preprocess_workers,
            inflight=max(1, int(getattr(self._backend, "concurrency", 1))),
        )
        for prepared, logit, _, error in results:
            frame = frames.pop(int(prepared.source))
            timings["decode"] += prepared.timings.get("decode", 0.0)  # the RGB conversion
            timings["preprocess"] += prepared.timings.get("preprocess", 0.0)
            if error is None and logit is not None and math.isnan(logit):
                error = f"BackendError: {self.choice.backend} returned NaN"
            if error is not None or logit is None:
                errors.append(f"t={frame.t:.3f}s: {error}")
                continue
            scored.append(FrameScore(frame.t, frame.index, sigmoid(logit), logit))
            if progress is not None:
                progress(len(scored), expected)
        return scored, timings, errors

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
            prepared = self.prepare(frame, channel_order)
            prepared.source = f"frame {index}"
            if prepared.error is not None:
                return self.to_prediction(prepared, None, prepared.error)
            infer_start = time.perf_counter()
            try:
                logit = float(self.infer_batch(prepared.pixels)[0])
            except PinclipError as exc:
                return self.to_prediction(prepared, None, f"{type(exc).__name__}: {exc}")
            prepared.timings["inference"] = (time.perf_counter() - infer_start) * 1000.0
            prepared.timings["total"] = (time.perf_counter() - start) * 1000.0
            return self.to_prediction(prepared, logit)

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
    def evidence_enabled(self) -> bool:
        """Whether provenance evidence is read (`evidence=True`)."""
        return self._evidence is not None

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


class _EvidenceReader:
    """Reads provenance findings with `pinclip_sdk.provenance` (imported only when evidence is on).

    `read` never raises: a failure of the reader itself becomes one finding with `error` set, so
    reading evidence can never stop an image from being scored.
    """

    def __init__(self, trust_anchors: str | os.PathLike | None) -> None:
        try:
            from pinclip_sdk import provenance
        except ImportError as exc:
            raise ConfigError(
                f"evidence=True needs pinclip_sdk.provenance, which cannot be imported ({exc}); "
                "pip install 'pinclip-sdk[provenance]'"
            ) from exc
        self._provenance = provenance
        self.options = provenance.EvidenceOptions(trust_anchors_pem=_pem_text(trust_anchors))

    def read(self, source: Any) -> tuple[tuple[dict[str, Any], ...], bool]:
        """`(findings as dicts, whether trusted provenance declares generated media)`."""
        try:
            findings = self._provenance.read_evidence(source, options=self.options)
            trusted = bool(self._provenance.declares_generated_trusted(findings))
            return tuple(finding.to_dict() for finding in findings), trusted
        except Exception as exc:  # the reader's own bug or I/O: recorded, never fatal to scoring
            logger.warning("%s: reading evidence failed: %s", describe_input(source), exc)
            failure = {
                "source": "reader",
                "says": {},
                "declares_generated": False,
                "validation": None,
                "error": f"{type(exc).__name__}: {exc}",
            }
            return (failure,), False


def _pem_text(trust_anchors: str | os.PathLike | None) -> str | None:
    """PEM text as given, or read from the file `trust_anchors` names."""
    if trust_anchors is None:
        return None
    if isinstance(trust_anchors, str) and "-----BEGIN" in trust_anchors:
        return trust_anchors
    path = Path(trust_anchors)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"trust_anchors {os.fspath(path)!r}: cannot read a PEM file ({exc})") from exc
    if "-----BEGIN" not in text:
        raise ConfigError(f"trust_anchors {os.fspath(path)!r}: no PEM certificate in this file")
    return text


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
