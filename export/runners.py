"""Run a bundle artifact on this machine's CPU, for the gate, `pinclip compare` and `pinclip calibrate`.

onnxruntime artifacts run on the CPU execution provider. TensorRT artifacts are ONNX graphs (FP16
strongly typed, INT8 Q/DQ): on a machine without a GPU the gate evaluates those graphs with
onnxruntime CPU, which executes the same precisions the graph states; engines are built and
gated on the device (`export/tensorrt.py`). OpenVINO IRs run on the CPU plugin with
`INFERENCE_PRECISION_HINT=f32`: on CPUs with AVX512-BF16/AMX, OpenVINO would otherwise run an
"FP32" IR in bf16 and the gate would measure bf16, not the artifact.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.bundle import Artifact, Bundle
from pinclip_sdk.errors import BackendError, BackendUnavailableError
from pinclip_sdk.export.constants import INPUT_NAME

_logger = logging.getLogger(__name__)


class ArtifactRunner:
    """`run(batch [N,3,H,W] float32) -> logits [N] float32` for one artifact file."""

    def __init__(
        self, name: str, path: Path, backend: str, precision: str, threads: int | None = None
    ) -> None:
        self.name = name
        self.path = path
        self.backend = backend
        self.precision = precision
        self.evaluated_with = "openvino CPU" if backend == "openvino" else "onnxruntime CPU"
        self._run = (
            _open_openvino(path, threads) if backend == "openvino" else _open_onnxruntime(path, threads)
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        try:
            logits = np.asarray(self._run(np.ascontiguousarray(batch, dtype=np.float32)), dtype=np.float32)
        except Exception as exc:
            raise BackendError(
                f"{self.name} ({self.path.name}) failed on a batch {batch.shape}: {exc}"
            ) from exc
        return logits.reshape(len(batch))

    def run_all(self, inputs: np.ndarray, batch_size: int = 8) -> np.ndarray:
        return np.concatenate(
            [self.run(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
        )

    def latency_ms(self, sample: np.ndarray, repeats: int = 10, warmup: int = 2) -> float:
        """Median wall time of one `run(sample)` in milliseconds."""
        for _ in range(warmup):
            self.run(sample)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            self.run(sample)
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1e3)


def _open_onnxruntime(path: Path, threads: int | None) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailableError("running ONNX artifacts needs pinclip-sdk[onnxruntime]") from exc
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda batch: session.run(None, {INPUT_NAME: batch})[0]


def _open_openvino(path: Path, threads: int | None) -> Any:
    try:
        import openvino as ov
    except ImportError as exc:
        raise BackendUnavailableError("running OpenVINO artifacts needs pinclip-sdk[openvino]") from exc
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    return lambda batch: request.infer({0: batch})[compiled.outputs[0]]


def open_artifact(bundle: Bundle, artifact: Artifact, threads: int | None = None) -> ArtifactRunner:
    """Verify the artifact's hashes, then open it for CPU inference."""
    path = bundle.verified_path(artifact)
    return ArtifactRunner(artifact.name, path, artifact.backend, artifact.precision, threads)


def open_file(name: str, path: str | Path, backend: str, precision: str) -> ArtifactRunner:
    """Open an artifact file that is not (yet) in a bundle: used during export."""
    return ArtifactRunner(name, Path(path), backend, precision)
