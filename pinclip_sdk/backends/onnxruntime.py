"""ONNX Runtime backend: runs a bundle's `onnxruntime-{fp32,fp16,int8}` artifact.

CPU by default; the CUDA and TensorRT execution providers are used when the installed
onnxruntime build offers them (TensorRT EP engines cached under the runtime cache folder).
Graph optimisation is on (`ORT_ENABLE_ALL`) and intra-op threads are configurable.
`InferenceSession.run` is thread-safe, so one session serves every caller. `load` opens a bundle's
artifact; `load_path` opens a loose ONNX file the same way (the export gate, benchmarks).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pinclip_sdk.backends.base import (
    as_logits,
    cache_dir,
    check_batch,
    checked_options,
    recorded_artifact,
    static_size,
)
from pinclip_sdk.errors import BackendError, BackendUnavailableError
from pinclip_sdk.targets import backend_record

if TYPE_CHECKING:
    from pinclip_sdk.bundle import Bundle

logger = logging.getLogger(__name__)
EXTRA = backend_record("onnxruntime").extra
OPTIONS = ("providers", "inter_op_threads", "allow_spinning")
# preference order; only providers the installed build offers are used
_GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailableError(f"onnxruntime is not installed ({exc}); install {EXTRA}") from exc
    return onnxruntime


def _providers(ort: Any, requested: list[str] | None, path: Path, model_key: str | None) -> list[Any]:
    available = ort.get_available_providers()
    if requested is not None:
        missing = [p for p in requested if p not in available]
        if missing:
            raise BackendUnavailableError(
                f"onnxruntime providers {missing} are not in this build (available: {available}); "
                "install onnxruntime-gpu for CUDA/TensorRT"
            )
        names = list(requested)
    else:
        names = [p for p in _GPU_PROVIDERS if p in available] + ["CPUExecutionProvider"]
    providers: list[Any] = []
    for name in names:
        if name == "TensorrtExecutionProvider":
            if model_key is None:
                from pinclip_sdk.hashing import sha256_file

                model_key = sha256_file(path)[:16]
            engines = cache_dir("ort-trt", model_key)
            providers.append((name, {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(engines)}))
        else:
            providers.append(name)
    return providers


class OnnxRuntimeBackend:
    """An `onnxruntime.InferenceSession` over one bundle artifact.

    Options (`Detector(..., backend_options=...)`): `providers` (list of execution provider names),
    `inter_op_threads` (int), `allow_spinning` (bool; False stops idle threads busy-waiting, which
    helps when other work shares the CPU).
    """

    name = "onnxruntime"
    concurrency = 1

    def __init__(self, session: Any, artifact_name: str, precision: str, threads: int | None) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self._output = session.get_outputs()[0].name
        self._artifact = artifact_name
        self._precision = precision
        self._threads = threads

    @classmethod
    def probe(cls) -> str | None:
        try:
            _import_ort()
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
    ) -> OnnxRuntimeBackend:
        """Open the bundle's `onnxruntime-<precision>` artifact (hash-verified) with its recorded
        `load_options` under the caller's `options`."""
        artifact, path, options = recorded_artifact(bundle, "onnxruntime", precision, options, OPTIONS)
        return cls.load_path(
            path,
            precision,
            threads,
            options=options,
            name=artifact.name,
            model_key=artifact.files[0].sha256[:16],
        )

    @classmethod
    def load_path(
        cls,
        path: str | Path,
        precision: str,
        threads: int | None = None,
        *,
        options: dict[str, Any] | None = None,
        name: str | None = None,
        model_key: str | None = None,
    ) -> OnnxRuntimeBackend:
        """Open an ONNX file exactly as `load` opens a bundle artifact; `model_key` names its
        TensorRT EP engine cache (default: the file's sha256)."""
        ort = _import_ort()
        options = checked_options("onnxruntime", options, OPTIONS)
        path = Path(path)
        name = name or f"onnxruntime-{precision}"
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            session_options.intra_op_num_threads = int(threads)
        if options.get("inter_op_threads"):
            session_options.inter_op_num_threads = int(options["inter_op_threads"])
        if "allow_spinning" in options:  # off: idle intra-op threads sleep (shared or busy CPUs)
            spinning = "1" if options["allow_spinning"] else "0"
            session_options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        providers = _providers(ort, options.get("providers"), path, model_key)
        start = time.perf_counter()
        try:
            session = ort.InferenceSession(str(path), sess_options=session_options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f"onnxruntime could not load {path}: {exc}") from exc
        logger.info(
            "onnxruntime loaded %s (%s) in %.2fs with %s",
            name,
            precision,
            time.perf_counter() - start,
            session.get_providers(),
        )
        return cls(session, name, precision, threads)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        batch = check_batch(batch, f"onnxruntime/{self._artifact}")
        session = self._session  # run is thread-safe and waits on nothing, so close blocks no caller
        if session is None:
            raise BackendError(f"onnxruntime/{self._artifact}: the backend is closed")
        try:
            (output,) = session.run([self._output], {self._input: batch})
        except Exception as exc:
            raise BackendError(f"onnxruntime/{self._artifact}: inference failed: {exc}") from exc
        return as_logits(output, batch.shape[0], f"onnxruntime/{self._artifact}")

    def input_size(self) -> tuple[int, int] | None:
        """(height, width) the graph's input fixes, or None where it leaves them dynamic."""
        return static_size(self._session.get_inputs()[0].shape)

    def info(self) -> dict[str, Any]:
        import onnxruntime

        providers = self._session.get_providers()
        return {
            "backend": self.name,
            "precision": self._precision,
            "artifact": self._artifact,
            "device": "GPU" if providers and providers[0] != "CPUExecutionProvider" else "CPU",
            "providers": providers,
            "library": f"onnxruntime {onnxruntime.__version__}",
            "threads": self._threads or "default",
        }

    def close(self) -> None:
        self._session = None


BACKEND_CLASS = OnnxRuntimeBackend
