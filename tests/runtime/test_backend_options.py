"""Recorded load options: a bundle's `load_options` are the backend's defaults, caller options win;
loose artifact files load through the same backend classes (`backends.files.load_file`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pinclip_sdk import Detector
from pinclip_sdk.backends.base import RECORDABLE_OPTIONS, check_recorded_options, with_recorded_options
from pinclip_sdk.backends.files import load_file
from pinclip_sdk.backends.onnxruntime import OnnxRuntimeBackend
from pinclip_sdk.backends.openvino import OPTIONS as OPENVINO_OPTIONS
from pinclip_sdk.backends.openvino import OpenVINOBackend
from pinclip_sdk.bundle import Bundle
from pinclip_sdk.errors import BackendUnavailableError, ConfigError
from pinclip_sdk.prediction import sigmoid


def _record(root: Path, name: str, options: dict[str, Any]) -> None:
    manifest = root / "manifest.json"
    data = json.loads(manifest.read_text())
    next(a for a in data["artifacts"] if a["name"] == name)["load_options"] = options
    manifest.write_text(json.dumps(data))


@pytest.fixture
def recorded(tiny_bundle: Path, tmp_path: Path) -> Path:
    root = shutil.copytree(tiny_bundle, tmp_path / "recorded.pinclip")
    _record(root, "openvino-fp32", {"inference_precision_hint": "f32"})
    return root


def test_older_bundles_have_no_recorded_options(tiny_bundle: Path) -> None:
    for artifact in Bundle.load(tiny_bundle).artifacts:
        assert artifact.load_options == {}


def test_recorded_options_are_the_default_and_caller_options_win(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    real = OpenVINOBackend.load_path.__func__  # type: ignore[attr-defined]

    def spy(cls: Any, path: Any, precision: str, threads: Any = None, **kwargs: Any) -> Any:
        seen.append(dict(kwargs["options"]))
        return real(cls, path, precision, threads, **kwargs)

    monkeypatch.setattr(OpenVINOBackend, "load_path", classmethod(spy))
    with Detector(recorded, "openvino") as detector:
        assert detector.info()["backend_info"]["inference_precision_hint"] == "f32"
    assert seen[-1] == {"inference_precision_hint": "f32"}
    # a caller's option replaces the recorded one (checked before compiling: f16 may not run here)
    monkeypatch.setattr(
        OpenVINOBackend, "load_path", classmethod(lambda cls, *a, **k: seen.append(k["options"]))
    )
    OpenVINOBackend.load(
        Bundle.load(recorded), "fp32", options={"model_cache": False, "inference_precision_hint": "f16"}
    )
    assert seen[-1] == {"inference_precision_hint": "f16", "model_cache": False}


def test_fp32_ir_without_a_record_still_runs_in_f32(tiny_bundle: Path) -> None:
    with Detector(tiny_bundle, "openvino", precision="fp32") as detector:
        assert detector.info()["backend_info"]["inference_precision_hint"] == "f32"


def test_bad_option_values_are_config_errors(tiny_bundle: Path) -> None:
    with pytest.raises(ConfigError, match="inference_precision_hint 'f64'"):
        Detector(tiny_bundle, "openvino", backend_options={"openvino": {"inference_precision_hint": "f64"}})
    with pytest.raises(ConfigError, match="unknown options"):
        Detector(tiny_bundle, "openvino", backend_options={"openvino": {"precision": "f32"}})


def test_recordable_options_are_options_the_backends_know() -> None:
    assert set(RECORDABLE_OPTIONS) == {"onnxruntime", "openvino", "tensorrt"}
    assert set(RECORDABLE_OPTIONS["openvino"]) <= set(OPENVINO_OPTIONS)
    assert check_recorded_options("openvino", {"inference_precision_hint": "bf16"}) == {
        "inference_precision_hint": "bf16"
    }
    for backend, options in [
        ("openvino", {"device": "GPU"}),  # machine-specific: the caller's choice, never the bundle's
        ("onnxruntime", {"providers": ["CPUExecutionProvider"]}),
        ("tensorrt", {"cache_dir": "/tmp/elsewhere"}),  # a path from untrusted input
        ("openvino", {"inference_precision_hint": "f64"}),
        ("onnxrt", {}),
    ]:
        with pytest.raises(ConfigError):
            check_recorded_options(backend, options)


def test_with_recorded_options_merges_under_the_caller() -> None:
    assert with_recorded_options(object(), {"a": 1}) == {"a": 1}  # type: ignore[arg-type]  # no record: {}

    class Recorded:
        load_options = {"inference_precision_hint": "f32", "b": 2}

    merged = with_recorded_options(Recorded(), {"inference_precision_hint": "bf16"})  # type: ignore[arg-type]
    assert merged == {"inference_precision_hint": "bf16", "b": 2}
    assert Recorded.load_options["inference_precision_hint"] == "f32"  # not modified


def test_load_file_uses_the_runtime_backend_classes(tiny_bundle: Path, images: list[np.ndarray]) -> None:
    bundle = Bundle.load(tiny_bundle)
    with Detector(bundle, "onnxruntime", precision="fp32") as detector:
        pixels = np.stack([detector.preprocessor(image) for image in images[:4]])
        expected = detector.backend.infer(pixels)
    onnx = tiny_bundle / bundle.find("onnxruntime", "fp32").main_file
    runner = load_file(onnx, "onnxruntime", "fp32", name="loose")
    try:
        assert isinstance(runner, OnnxRuntimeBackend)
        assert runner.info()["artifact"] == "loose"
        np.testing.assert_array_equal(runner.infer(pixels), expected)
    finally:
        runner.close()
    xml = tiny_bundle / bundle.find("openvino", "fp32").main_file
    runner = load_file(xml, "openvino", "fp32", options={"model_cache": False})
    try:
        assert isinstance(runner, OpenVINOBackend)
        assert runner.info()["inference_precision_hint"] == "f32"
    finally:
        runner.close()


def test_load_file_refuses_unknown_backends_and_missing_files(tiny_bundle: Path, tmp_path: Path) -> None:
    onnx = tiny_bundle / "onnxruntime-fp32" / "detector.onnx"
    with pytest.raises(ConfigError, match="Unknown backend 'onnx'"):
        load_file(onnx, "onnx", "fp32")
    with pytest.raises(ConfigError, match="no such artifact file"):
        load_file(tmp_path / "missing.onnx", "onnxruntime", "fp32")
    with pytest.raises(BackendUnavailableError, match="tensorrt"):  # no TensorRT here, or bundle-only
        load_file(onnx, "tensorrt", "fp16")


def test_one_sigmoid_for_numbers_and_arrays() -> None:
    logits = np.array([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0, np.nan])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # stable: no overflow anywhere
        p_fake = sigmoid(logits)
    assert p_fake.dtype == np.float64
    assert p_fake[0] == 0.0
    assert p_fake[-2] == 1.0
    assert p_fake[3] == 0.5
    assert np.isnan(p_fake[-1])
    np.testing.assert_allclose(p_fake[1:-2], 1.0 / (1.0 + np.exp(-logits[1:-2])), rtol=1e-15)
    assert all(isinstance(sigmoid(float(x)), float) for x in logits)
    assert [sigmoid(float(x)) for x in logits[:-1]] == p_fake[:-1].tolist()  # identical, element by element
    assert sigmoid(np.float32(2.5)) == sigmoid(2.5)
