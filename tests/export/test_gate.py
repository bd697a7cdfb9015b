"""The gate catches a perturbed artifact and names it with its numbers; it runs artifacts through the
runtime's backend classes and refuses unknown backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from pinclip_sdk.backends.onnxruntime import OnnxRuntimeBackend
from pinclip_sdk.backends.openvino import OpenVINOBackend
from pinclip_sdk.bundle import Bundle
from pinclip_sdk.errors import ConfigError, GateFailedError
from pinclip_sdk.export.gate import GateConfig, artifact_metrics, gate_failures, raise_on_failure, run_gate
from pinclip_sdk.export.gate_artifacts import close_all, open_gate_artifact, open_gate_file


def _perturb(source: Path, target: Path, scale: float) -> Path:
    """Scale the largest weight of the graph: a subtly broken artifact."""
    model = onnx.load(str(source))
    largest = max(model.graph.initializer, key=lambda i: int(np.prod(i.dims)))
    array = numpy_helper.to_array(largest)
    largest.CopyFrom(numpy_helper.from_array((array * scale).astype(array.dtype), largest.name))
    onnx.save(model, str(target))
    return target


@pytest.fixture(scope="module")
def gate_inputs(full_bundle: Path) -> tuple[np.ndarray, np.ndarray]:
    from pinclip_sdk.export.gate_data import build_gate_set

    bundle = Bundle.load(full_bundle)
    dataset = full_bundle.parent / "genimage"
    gate_set = build_gate_set(bundle.manifest.preprocess, dataset, None, None, size=48)
    assert gate_set.labels is not None
    return gate_set.inputs, gate_set.labels


def test_perturbed_artifact_fails_the_gate(
    full_bundle: Path, tmp_path: Path, gate_inputs: tuple[np.ndarray, np.ndarray]
) -> None:
    inputs, labels = gate_inputs
    fp32 = full_bundle / "onnxruntime" / "detector.fp32.onnx"
    reference = open_gate_file("onnxruntime-fp32", fp32, "onnxruntime", "fp32")
    intact = open_gate_file(
        "onnxruntime-int8", full_bundle / "onnxruntime" / "detector.int8.onnx", "onnxruntime", "int8"
    )
    broken = open_gate_file(
        "broken-int8", _perturb(fp32, tmp_path / "broken.onnx", -3.0), "onnxruntime", "int8"
    )
    config = GateConfig(latency_repeats=1)
    try:
        result = run_gate([intact, broken], reference, inputs, labels, 0.5, config)
    finally:
        close_all([reference, intact, broken])
    assert result["artifacts"]["onnxruntime-int8"]["passed"]
    failed = result["artifacts"]["broken-int8"]
    assert not failed["passed"]
    assert not result["passed"]
    assert failed["agreement"] < 0.99
    assert failed["max_abs_logit_error"] > 0.1
    with pytest.raises(GateFailedError, match=r"broken-int8: decision agreement \d+\.\d+% < 99\.00%") as info:
        raise_on_failure(result, "report.json")
    assert "onnxruntime-int8" not in str(info.value)


def test_failure_rules() -> None:
    logits_ref = np.array([-2.0, -1.0, 1.0, 2.0] * 25)
    labels = np.array([0, 0, 1, 1] * 25)
    flipped = logits_ref.copy()
    flipped[2] = -0.5  # one fake of 100 flips to real (ranking unchanged): 99% agreement, same AUC
    metrics = artifact_metrics(flipped, logits_ref, labels, 0.5)
    assert metrics["agreement"] == pytest.approx(0.99)
    assert metrics["disagreements"] == 1
    config = GateConfig()
    assert gate_failures(metrics, "int8", config) == []
    assert "agreement 99.00% < 99.90%" in gate_failures(metrics, "fp16", config)[0]
    assert metrics["auc_delta"] == 0.0
    worse = logits_ref.copy()
    worse[1::4] = 1.5  # a quarter of the images (reals) now outrank half the fakes: AUC 1.0 -> 0.875
    worse_metrics = artifact_metrics(worse, logits_ref, labels, 0.5)
    failures = gate_failures(worse_metrics, "int8", config)
    assert len(failures) == 2
    assert failures[1].startswith("AUC drop")


def test_gate_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="int8_min_agreement must be a fraction"):
        GateConfig(int8_min_agreement=99.0)


def test_gate_runs_the_runtime_backends_with_the_recorded_options(full_bundle: Path) -> None:
    bundle = Bundle.load(full_bundle)
    ov_int8 = bundle.find("openvino", "int8")
    assert ov_int8.load_options == {"inference_precision_hint": "f32"}
    opened = [open_gate_artifact(bundle, a) for a in bundle.artifacts]
    try:
        by_name = {g.name: g for g in opened}
        assert isinstance(by_name["onnxruntime-int8"].runner, OnnxRuntimeBackend)
        assert isinstance(by_name["openvino-int8"].runner, OpenVINOBackend)
        assert by_name["openvino-int8"].runner.info()["inference_precision_hint"] == "f32"
        assert "inference precision f32" in by_name["openvino-int8"].evaluated_with
        for name in ("tensorrt-fp16", "tensorrt-int8"):  # no TensorRT here: said, not silent
            assert isinstance(by_name[name].runner, OnnxRuntimeBackend)
            assert "TensorRT ONNX graph" in by_name[name].evaluated_with
            assert "CPUExecutionProvider" in by_name[name].evaluated_with
    finally:
        close_all(opened)


def test_report_records_backend_options_and_evaluation(full_bundle: Path) -> None:
    import json

    report = json.loads((full_bundle / "report.json").read_text())
    artifacts = report["gate"]["artifacts"]
    manifest = Bundle.load(full_bundle)
    for name, result in artifacts.items():
        artifact = next(a for a in manifest.artifacts if a.name == name)
        assert result["backend"] == artifact.backend
        assert result["load_options"] == artifact.load_options
        assert result["evaluated_with"]
    assert artifacts["openvino-fp32"]["load_options"] == {"inference_precision_hint": "f32"}
    assert artifacts["onnxruntime-int8"]["evaluated_with"].startswith("onnxruntime ")
    assert "TensorRT ONNX graph" in artifacts["tensorrt-int8"]["evaluated_with"]
    assert "inference_precision_hint=f32" in (full_bundle / "report.md").read_text()
    assert manifest.manifest.metrics["gate"]["openvino-int8"]["evaluated_with"].startswith("openvino ")


def test_unknown_backend_is_an_error_not_a_fallback(full_bundle: Path) -> None:
    fp32 = full_bundle / "onnxruntime" / "detector.fp32.onnx"
    with pytest.raises(ConfigError, match="Unknown backend 'onnxrt'.*Did you mean 'onnxruntime'"):
        open_gate_file("x", fp32, "onnxrt", "fp32")
