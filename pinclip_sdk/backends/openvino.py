"""OpenVINO backend: runs a bundle's `openvino-{fp32,int8}` IR on the CPU (or another OV device).

Settings follow OpenVINO's guidance (docs/references.md#openvino): a `PERFORMANCE_HINT` (LATENCY for one image
at a time, THROUGHPUT for batch pipelines: OpenVINO then picks the number of streams) rather than
low-level knobs, plus `INFERENCE_NUM_THREADS`. `infer` is thread-safe: it borrows one of a pool of
infer requests (as many as OpenVINO's `OPTIMAL_NUMBER_OF_INFER_REQUESTS`), so the pipeline can keep
that many batches in flight (`concurrency`), which is how throughput mode fills every stream.

Inference precision: an FP32 IR runs with `INFERENCE_PRECISION_HINT=f32` (CPUs with AMX or
AVX512-BF16 would otherwise run it in bf16). Bundles record the hint their export gate ran with
(`load_options.inference_precision_hint`, f32 for both IRs since export records it; see
`pinclip_sdk.export.artifacts.LOAD_OPTIONS`) and `load` applies it unless the caller gives another;
an INT8 IR of an older bundle without the record runs with the plugin's default.

OpenVINO's telemetry is kept off: import openvino through `import_openvino`, never directly.

One `ov.Core` serves every backend in the process (OpenVINO's advice), so its CPU plugin is
loaded once and never destroyed while models come and go; loading and releasing run under
`kept_signal_stack` (the plugin swaps the thread's signal stack on AMX CPUs, see
`pinclip_sdk.signal_stack`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pinclip_sdk.backends.base import (
    OPENVINO_PRECISION_HINTS,
    as_logits,
    cache_dir,
    check_batch,
    checked_options,
    recorded_artifact,
    static_size,
)
from pinclip_sdk.errors import BackendError, BackendUnavailableError, ConfigError
from pinclip_sdk.signal_stack import kept_signal_stack
from pinclip_sdk.targets import backend_record

if TYPE_CHECKING:
    from pinclip_sdk.bundle import Bundle

logger = logging.getLogger(__name__)
EXTRA = backend_record("openvino").extra
HINTS = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT")
OPTIONS = ("performance_hint", "device", "model_cache", "inference_precision_hint")
# How long close() waits for inference requests still running before it releases the model.
CLOSE_WAIT_S = 30.0


# openvino modules that bind `openvino_telemetry` (or, when it cannot be imported, openvino's own
# no-op `telemetry_stub`) as `tm` at import time
_TELEMETRY_USERS = (
    "openvino.tools.ovc.telemetry_utils",
    "openvino.tools.ovc.convert_impl",
    "openvino.tools.ovc.utils",
    "openvino.tools.ovc.main",
)


def import_openvino() -> Any:
    """Import openvino with its telemetry off: no sender thread, nothing written under HOME.

    `import openvino` imports `openvino.tools.ovc`, which sends a telemetry event and writes
    `~/intel/openvino_ga_cid`; the only opt-outs are CI variables or a consent file in HOME. When
    `openvino_telemetry` cannot be imported, openvino falls back to its no-op `telemetry_stub`, so
    it is hidden for the import; if openvino was imported before, the stub is swapped in.
    """
    if "openvino" not in sys.modules and "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # import raises ImportError
        try:
            import openvino
        finally:
            if "openvino_telemetry" in sys.modules and sys.modules["openvino_telemetry"] is None:
                del sys.modules["openvino_telemetry"]
    else:
        import openvino
    _disable_telemetry()
    return openvino


def _disable_telemetry() -> None:
    """Point openvino's telemetry users at the stub and silence a telemetry already started."""
    try:
        from openvino.tools.ovc import telemetry_stub
    except ImportError:
        return
    for name in _TELEMETRY_USERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "tm", telemetry_stub) is not telemetry_stub:
            module.tm = telemetry_stub  # type: ignore[attr-defined]
    main = sys.modules.get("openvino_telemetry.main")
    instance = getattr(getattr(main, "Telemetry", None), "_SingletonMetaClass__single_instance", None)
    if instance is not None:
        instance.consent = False
        with contextlib.suppress(Exception):  # private API of openvino_telemetry
            instance.sender.executor.shutdown(wait=False, cancel_futures=True)


def _import_ov() -> Any:
    try:
        return import_openvino()
    except ImportError as exc:
        raise BackendUnavailableError(f"openvino is not installed ({exc}); install {EXTRA}") from exc


def _precision_hint(precision: str, options: dict[str, Any]) -> str | None:
    """The `INFERENCE_PRECISION_HINT` to compile with: the option (recorded or given), else f32 for
    an FP32 IR (AMX/AVX512-BF16 CPUs would otherwise run it in bf16), else the plugin's default."""
    hint = options.get("inference_precision_hint")
    if hint is None:
        return "f32" if precision == "fp32" else None
    if hint not in OPENVINO_PRECISION_HINTS:
        raise ConfigError(
            f"openvino inference_precision_hint {hint!r:.40} is not one of {OPENVINO_PRECISION_HINTS}"
        )
    return str(hint)


def _compile_config(
    precision_hint: str | None, threads: int | None, hint: str, model_cache: bool
) -> dict[str, str]:
    config = {"PERFORMANCE_HINT": hint}
    if model_cache:  # OpenVINO keys its compiled-model cache by model, device and config
        config["CACHE_DIR"] = str(cache_dir("openvino"))
    if threads:
        config["INFERENCE_NUM_THREADS"] = str(int(threads))
    if precision_hint is not None:
        config["INFERENCE_PRECISION_HINT"] = precision_hint
    return config


def _make_batch_dynamic(model: Any) -> None:
    """Exported IRs have a dynamic batch; an IR saved with a fixed one is reshaped so any N runs."""
    shape = model.inputs[0].get_partial_shape()
    if shape.rank.is_static and shape[0].is_static:
        dims = [-1] + [d.get_length() if d.is_static else -1 for d in list(shape)[1:]]
        model.reshape({model.inputs[0].get_any_name(): dims})


class OpenVINOBackend:
    """A compiled OpenVINO model over one bundle artifact.

    Options (`Detector(..., backend_options=...)`): `performance_hint` (LATENCY, THROUGHPUT),
    `device` (default CPU), `model_cache` (default True: compiled models cached under the runtime
    cache folder, `openvino/`, so later loads skip compilation), `inference_precision_hint` (f32,
    bf16, f16; default: what the bundle recorded, else f32 for FP32 IRs).
    """

    name = "openvino"

    def __init__(
        self,
        compiled: Any,
        artifact_name: str,
        precision: str,
        threads: int | None,
        hint: str,
        device: str,
        precision_hint: str | None = None,
    ) -> None:
        self._compiled = compiled
        self._precision_hint = precision_hint
        self._device = device
        self._artifact = artifact_name
        self._precision = precision
        self._threads = threads
        self._hint = hint
        try:
            optimal = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        except Exception:  # property missing on some devices
            optimal = 1
        self.concurrency = max(1, optimal)
        self._free = [compiled.create_infer_request() for _ in range(self.concurrency)]
        self._ready = threading.Condition()
        self._closed = False
        self._in_flight = 0

    @classmethod
    def probe(cls) -> str | None:
        try:
            _import_ov()
        except BackendUnavailableError as exc:
            return str(exc)
        return None

    @classmethod
    def load(
        cls,
        bundle: Bundle,
        precision: str,
        threads: int | None = None,
        *,
        options: dict[str, Any] | None = None,
    ) -> OpenVINOBackend:
        """Compile the bundle's `openvino-<precision>` IR (hash-verified) with its recorded
        `load_options` under the caller's `options`."""
        artifact, path, options = recorded_artifact(bundle, "openvino", precision, options, OPTIONS)
        return cls.load_path(path, precision, threads, options=options, name=artifact.name)

    @classmethod
    def load_path(
        cls,
        path: str | Path,
        precision: str,
        threads: int | None = None,
        *,
        options: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> OpenVINOBackend:
        """Compile an IR `.xml` (its `.bin` next to it) exactly as `load` compiles a bundle artifact."""
        options = checked_options("openvino", options, OPTIONS)
        hint = str(options.get("performance_hint", "LATENCY")).upper()
        if hint not in HINTS:
            raise ConfigError(f"openvino performance_hint {hint!r} is not one of {HINTS}")
        precision_hint = _precision_hint(precision, options)
        name = name or f"openvino-{precision}"
        start = time.perf_counter()
        device = str(options.get("device", "CPU"))
        config = _compile_config(precision_hint, threads, hint, bool(options.get("model_cache", True)))
        try:
            with kept_signal_stack():
                core = shared_core()
                model = core.read_model(str(path))
                _make_batch_dynamic(model)
                compiled = core.compile_model(model, device, config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise BackendError(f"openvino could not load {path} on {device}: {exc}") from exc
        backend = cls(compiled, name, precision, threads, hint, device, precision_hint)
        logger.info(
            "openvino compiled %s (%s, %s, precision hint %s, %d infer requests) in %.2fs",
            name,
            precision,
            hint,
            precision_hint or "default",
            backend.concurrency,
            time.perf_counter() - start,
        )
        return backend

    def infer(self, batch: np.ndarray) -> np.ndarray:
        batch = check_batch(batch, f"openvino/{self._artifact}")
        request = self._borrow()
        try:
            results = request.infer({0: batch})
            output = np.array(results[0], copy=True)  # the request reuses its output buffer
        except Exception as exc:
            raise BackendError(f"openvino/{self._artifact}: inference failed: {exc}") from exc
        finally:
            self._give_back(request)
        return as_logits(output, batch.shape[0], f"openvino/{self._artifact}")

    def _borrow(self) -> Any:
        """A free infer request; waits for one, and raises BackendError once the backend is closed."""
        with self._ready:
            while not self._free and not self._closed:
                self._ready.wait()
            if self._closed:
                raise BackendError(f"openvino/{self._artifact}: the backend is closed")
            self._in_flight += 1
            return self._free.pop()

    def _give_back(self, request: Any) -> None:
        with self._ready:
            self._in_flight -= 1
            if not self._closed:
                self._free.append(request)
            self._ready.notify_all()

    def input_size(self) -> tuple[int, int] | None:
        """(height, width) the IR's input fixes, or None where it leaves them dynamic."""
        shape = self._compiled.inputs[0].get_partial_shape()
        if shape.rank.is_dynamic:
            return None
        return static_size([d.get_length() if d.is_static else None for d in shape])

    def info(self) -> dict[str, Any]:
        openvino = import_openvino()
        try:
            streams = int(self._compiled.get_property("NUM_STREAMS"))
        except Exception:
            streams = None
        return {
            "backend": self.name,
            "precision": self._precision,
            "artifact": self._artifact,
            "device": self._device,
            "performance_hint": self._hint,
            "inference_precision_hint": self._precision_hint or "plugin default",
            "streams": streams,
            "infer_requests": self.concurrency,
            "library": f"openvino {openvino.__version__}",
            "threads": self._threads or "default",
        }

    def close(self) -> None:
        """Release the compiled model; callers waiting for an infer request get a BackendError."""
        with self._ready:
            self._closed = True
            self._free.clear()
            self._ready.notify_all()
            # Requests still running finish before the compiled model is released (bounded wait).
            self._ready.wait_for(lambda: self._in_flight == 0, timeout=CLOSE_WAIT_S)
        with kept_signal_stack():
            self._compiled = None


_CORE: Any = None
_CORE_LOCK = threading.Lock()


def shared_core() -> Any:
    """The process's one `ov.Core` (created on first use, telemetry off, signal stack kept)."""
    global _CORE
    with _CORE_LOCK:
        if _CORE is None:
            ov = _import_ov()
            with kept_signal_stack():
                _CORE = ov.Core()
        return _CORE


BACKEND_CLASS = OpenVINOBackend
