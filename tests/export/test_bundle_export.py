"""A tiny checkpoint becomes a gated bundle with every artifact; the manifest matches its schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from pinclip_sdk.bundle import Bundle, validate_manifest

EXPECTED = {
    "onnxruntime-fp32": ("onnxruntime", "fp32"),
    "onnxruntime-fp16": ("onnxruntime", "fp16"),
    "onnxruntime-int8": ("onnxruntime", "int8"),
    "openvino-fp32": ("openvino", "fp32"),
    "openvino-int8": ("openvino", "int8"),
    "tensorrt-fp16": ("tensorrt", "fp16"),
    "tensorrt-int8": ("tensorrt", "int8"),
}


def test_every_artifact_present_and_verified(full_bundle: Path) -> None:
    bundle = Bundle.load(full_bundle)
    assert {a.name: (a.backend, a.precision) for a in bundle.artifacts} == EXPECTED
    for artifact in bundle.artifacts:
        assert bundle.verified_path(artifact).is_file()
    assert [f.path for f in bundle.find("openvino", "int8").files][1].endswith(".bin")


def test_each_artifact_passes_its_gate(full_bundle: Path) -> None:
    report = json.loads((full_bundle / "report.json").read_text())
    gate = report["gate"]
    assert gate["passed"]
    assert set(gate["artifacts"]) == set(EXPECTED)
    for name, result in gate["artifacts"].items():
        assert result["passed"], (name, result["failures"])
        assert result["agreement"] >= result["min_agreement"]
        assert result["n_images"] == report["gate_set"]["n_images"] >= 32
        assert result["latency_ms_batch1"] > 0
    assert report["gate_set"]["n_real"] > 0
    assert report["gate_set"]["n_fake"] > 0
    assert "held out from calibration" in report["gate_set"]["source"]
    assert "## Gate" in (full_bundle / "report.md").read_text()


def test_int8_artifacts_are_really_quantised(full_bundle: Path) -> None:
    report = json.loads((full_bundle / "report.json").read_text())
    for name in ("onnxruntime-int8", "tensorrt-int8"):
        model = onnx.load(str(full_bundle / Bundle.load(full_bundle).find(*EXPECTED[name]).main_file))
        ops = [n.op_type for n in model.graph.node]
        assert ops.count("QuantizeLinear") > 0
        assert ops.count("DequantizeLinear") > 0
        assert ops.count("LayerNormalization") > 0  # kept in float
    trt = onnx.load(str(full_bundle / "tensorrt" / "detector.int8.qdq.onnx"))
    zero_points = [onnx.numpy_helper.to_array(i) for i in trt.graph.initializer if "zero_point" in i.name]
    assert zero_points
    assert all(z.dtype == np.int8 and not z.any() for z in zero_points)
    assert report["artifacts"]["onnxruntime-int8"]["weights"].endswith("(7-bit, reduce_range)")
    assert report["artifacts"]["openvino-int8"]["fake_quantize_ops"] > 0
    calibration = report["calibration"]["files"]
    assert calibration["n_real"] == calibration["n_fake"] == 16
    assert len(calibration["file_list_sha256"]) == 64


def test_fp16_graph_is_strongly_typed(full_bundle: Path) -> None:
    model = onnx.load(str(full_bundle / "tensorrt" / "detector.fp16.onnx"))
    types = {onnx.TensorProto.DataType.Name(i.data_type) for i in model.graph.initializer}
    assert "FLOAT16" in types
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_manifest_validates_against_schema(full_bundle: Path) -> None:
    data = json.loads((full_bundle / "manifest.json").read_text())
    validate_manifest(data)
    assert data["schema_version"] == 1
    assert data["backbone"]["name"] == "pinclip-tiny-vit"
    assert data["threshold"]["method"] == "default"
    provenance = data["provenance"]
    assert len(provenance["checkpoint"]["weights_sha256"]) == 64
    assert len(provenance["checkpoint"]["training_config_sha256"]) == 64
    assert provenance["libraries"]["onnxruntime"]
    assert provenance["calibration"]["n_images"] == 32


def test_schema_rejects_a_broken_manifest(full_bundle: Path) -> None:
    from pinclip_sdk.errors import BundleError

    data = json.loads((full_bundle / "manifest.json").read_text())
    data["artifacts"][0]["precision"] = "int4"
    with pytest.raises(BundleError, match="does not match schema"):
        validate_manifest(data)


@pytest.mark.parametrize(
    ("artifact", "options"),
    [
        ("openvino-int8", {"device": "GPU"}),
        ("openvino-int8", {"inference_precision_hint": "f64"}),
        ("onnxruntime-int8", {"providers": ["CPUExecutionProvider"]}),
    ],
)
def test_schema_allows_only_recordable_load_options(
    full_bundle: Path, artifact: str, options: dict[str, object]
) -> None:
    from pinclip_sdk.errors import BundleError

    data = json.loads((full_bundle / "manifest.json").read_text())
    recorded = {a["name"]: a["load_options"] for a in data["artifacts"]}
    assert recorded["openvino-int8"] == recorded["openvino-fp32"] == {"inference_precision_hint": "f32"}
    assert all(not v for k, v in recorded.items() if not k.startswith("openvino"))
    next(a for a in data["artifacts"] if a["name"] == artifact)["load_options"] = options
    with pytest.raises(BundleError, match="does not match schema"):
        validate_manifest(data)
