"""Artifacts opened for the gate, `pinclip compare` and `pinclip calibrate` through the runtime's backends.

`open_gate_file` opens an artifact file during export (its bundle has no manifest yet) with
`pinclip_sdk.backends.files.load_file`; `open_gate_artifact` opens a finished bundle's artifact with
`backend_class(name).load(bundle, precision, threads)`, the Detector's own call. Both run the load
options the bundle records (`Artifact.load_options`), so what ships runs as it was gated, and
record what ran it (`evaluated_with`: library and version, providers or device, precision hint).

TensorRT artifacts are ONNX graphs (FP16 strongly typed, INT8 Q/DQ). The export gate evaluates
them with the onnxruntime backend on its CPU execution provider, which executes the precisions the
graph states, and says so in `evaluated_with`; `pinclip compare` runs them with the TensorRT
backend where it can run (an NVIDIA GPU), else the same explicit way. An unknown backend name is
a ConfigError naming it: nothing falls back to another backend.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.backends.base import Backend, backend_class
from pinclip_sdk.backends.files import load_file
from pinclip_sdk.bundle import Artifact, Bundle
from pinclip_sdk.errors import BackendUnavailableError

GATE_BATCH = 8  # images per `infer` call when the gate scores its inputs
TENSORRT_ON_CPU = {"providers": ["CPUExecutionProvider"]}
# Scoring-only settings that do not change what runs: the export gate does not fill the runtime's
# compiled-model cache with IRs of a bundle that may still fail its gate.
_EXPORT_ONLY_OPTIONS: dict[str, dict[str, Any]] = {"openvino": {"model_cache": False}}


@dataclass
class GateArtifact:
    """One artifact loaded by its runtime backend, with what the gate reports about it."""

    name: str
    backend: str
    precision: str
    load_options: dict[str, Any]
    evaluated_with: str
    runner: Backend

    def scores(self, inputs: np.ndarray, batch_size: int = GATE_BATCH) -> np.ndarray:
        """float32 logits of `inputs` [N, 3, H, W], `batch_size` images per `infer` call."""
        batches = (
            self.runner.infer(np.ascontiguousarray(inputs[i : i + batch_size], dtype=np.float32))
            for i in range(0, len(inputs), batch_size)
        )
        return np.concatenate(list(batches))

    def latency_ms(self, sample: np.ndarray, repeats: int = 10, warmup: int = 2) -> float:
        """Median wall time of one `infer(sample)` in milliseconds."""
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        for _ in range(warmup):
            self.runner.infer(sample)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            self.runner.infer(sample)
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1e3)

    def describe(self) -> dict[str, Any]:
        """What the gate report records about how this artifact ran."""
        return {
            "backend": self.backend,
            "precision": self.precision,
            "load_options": dict(self.load_options),
            "evaluated_with": self.evaluated_with,
        }

    def close(self) -> None:
        self.runner.close()


def describe_backend(info: dict[str, Any]) -> str:
    """One line from a backend's `info()`: library and version, providers or device, precision hint."""
    parts = [str(info.get("library") or info.get("backend", "?"))]
    providers = info.get("providers")
    parts.append(",".join(providers) if providers else str(info.get("device", "")))
    hint = info.get("inference_precision_hint")
    if hint is not None:
        parts.append(f"inference precision {hint}")
    return " ".join(p for p in parts if p)


def open_gate_file(
    name: str,
    path: str | Path,
    backend: str,
    precision: str,
    load_options: dict[str, Any] | None = None,
    threads: int | None = None,
) -> GateArtifact:
    """Load an artifact file being exported with its backend class and the `load_options` its
    bundle records (a TensorRT ONNX graph: with onnxruntime CPU, recorded in `evaluated_with`)."""
    backend_class(backend)  # ConfigError naming an unknown backend
    recorded = dict(load_options or {})
    if backend == "tensorrt":
        runner = load_file(path, "onnxruntime", precision, threads, options=TENSORRT_ON_CPU, name=name)
        why = "no TensorRT engine is built during export; engines are checked with `pinclip compare`"
        evaluated = f"{describe_backend(runner.info())} (TensorRT ONNX graph; {why})"
        return GateArtifact(name, backend, precision, recorded, evaluated, runner)
    options = {**recorded, **_EXPORT_ONLY_OPTIONS.get(backend, {})}
    runner = load_file(path, backend, precision, threads, options=options, name=name)
    return GateArtifact(name, backend, precision, recorded, describe_backend(runner.info()), runner)


def open_gate_artifact(bundle: Bundle, artifact: Artifact, threads: int | None = None) -> GateArtifact:
    """Load a bundle artifact as a `Detector` would (hash-verified, recorded load options applied);
    a TensorRT artifact where TensorRT cannot run: its ONNX graph with onnxruntime CPU, said so."""
    cls = backend_class(artifact.backend)  # ConfigError naming an unknown backend
    recorded = dict(artifact.load_options)
    bundle.verify(artifact)  # as the Detector does: no backend implementation can skip it
    reason = cls.probe()
    if reason is None:
        runner = cls.load(bundle, artifact.precision, threads)
        evaluated = describe_backend(runner.info())
    elif artifact.backend == "tensorrt":
        path = bundle.verified_path(artifact)
        runner = load_file(path, "onnxruntime", artifact.precision, threads, options=TENSORRT_ON_CPU)
        evaluated = f"{describe_backend(runner.info())} (TensorRT ONNX graph; no TensorRT here: {reason})"
    else:
        raise BackendUnavailableError(f"{artifact.name}: backend {artifact.backend!r} cannot run: {reason}")
    return GateArtifact(artifact.name, artifact.backend, artifact.precision, recorded, evaluated, runner)


def close_all(artifacts: Iterable[GateArtifact]) -> None:
    """Close every artifact once (a list may hold the reference twice)."""
    seen: set[int] = set()
    for artifact in artifacts:
        if id(artifact) not in seen:
            seen.add(id(artifact))
            artifact.close()
