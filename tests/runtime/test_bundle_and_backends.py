"""Bundle refusal, backend errors and the `auto` backend choice."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from pinclip_sdk import Detector
from pinclip_sdk.backends import select
from pinclip_sdk.backends.base import cache_dir
from pinclip_sdk.bundle import BundleWriter, sha256_file
from pinclip_sdk.errors import BackendUnavailableError, BundleError, ConfigError


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    return shutil.copytree(tiny_bundle, tmp_path / "copy.pinclip")


def test_truncated_artifact_is_refused(bundle_copy):
    onnx = bundle_copy / "onnxruntime-fp32" / "detector.onnx"
    onnx.write_bytes(onnx.read_bytes()[:100])
    with pytest.raises(BundleError, match="truncated"):
        Detector(bundle_copy, "onnxruntime", precision="fp32")


def test_tampered_artifact_is_refused_by_every_path(bundle_copy):
    xml = bundle_copy / "openvino-fp32" / "detector.xml"
    data = bytearray(xml.read_bytes())
    data[-20] ^= 0x01  # same size, different content
    xml.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        Detector(bundle_copy, "openvino")
    onnx = bundle_copy / "onnxruntime-int8" / "detector.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\x00")
    with pytest.raises(BundleError, match="sha256|modified"):
        Detector(bundle_copy)  # auto: nothing runs unverified


def test_unknown_schema_and_missing_manifest_are_refused(bundle_copy, tmp_path):
    manifest = bundle_copy / "manifest.json"
    data = json.loads(manifest.read_text())
    data["schema_version"] = 99
    manifest.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="schema_version 99"):
        Detector(bundle_copy)
    manifest.unlink()
    with pytest.raises(BundleError, match="manifest.json"):
        Detector(bundle_copy)
    with pytest.raises(BundleError, match="not a model bundle"):
        Detector(tmp_path / "nothing.pinclip")


def test_missing_artifact_and_unknown_backend(tiny_bundle):
    with pytest.raises(BundleError, match="no openvino/int8 artifact.*onnxruntime/fp32"):
        Detector(tiny_bundle, "openvino", precision="int8")
    with pytest.raises(ConfigError, match="Did you mean 'onnxruntime'"):
        Detector(tiny_bundle, "onnxrt")
    with pytest.raises(ConfigError, match="precision"):
        Detector(tiny_bundle, "onnxruntime", precision="int4")


def test_missing_library_names_the_extra(tiny_bundle, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(BackendUnavailableError, match=r"pinclip-sdk\[openvino\]"):
        Detector(tiny_bundle, "openvino")
    with Detector(tiny_bundle) as detector:  # auto falls back to what can run, and says so
        assert detector.choice.backend == "onnxruntime"
        assert "only candidate" in detector.info()["reason"]
        assert "openvino" in detector.info()["reason"]


def test_auto_measures_once_then_uses_the_cache(tiny_bundle, images):
    with Detector(tiny_bundle) as first:
        assert "measured on this machine" in first.choice.reason
        assert set(first.choice.measurements_ms) == {"onnxruntime/int8", "openvino/fp32"}
        fastest = min(first.choice.measurements_ms, key=first.choice.measurements_ms.get)
        assert f"{first.choice.backend}/{first.choice.precision}" == fastest
        assert first.predict(images[0]).ok
    cache = json.loads((cache_dir() / select.CACHE_FILE).read_text())
    assert len(cache) == 1
    with Detector(tiny_bundle) as second:
        assert "cached measurement" in second.choice.reason
        assert (second.choice.backend, second.choice.precision) == (
            first.choice.backend,
            first.choice.precision,
        )
    with Detector(tiny_bundle, threads=1) as third:  # a different setting is a different key
        assert "measured on this machine" in third.choice.reason


def test_auto_prefers_tensorrt_when_it_can_run(tiny_bundle, tmp_path, monkeypatch):
    root = tmp_path / "with-trt.pinclip"
    writer = BundleWriter(root)
    shutil.copytree(tiny_bundle / "onnxruntime-fp32", root / "tensorrt-fp16")
    writer.add_artifact("tensorrt-fp16", "tensorrt", "fp16", [root / "tensorrt-fp16" / "detector.onnx"])
    from pinclip_sdk.bundle import Bundle

    writer.finish("trt-test", {"name": "tiny"}, Bundle.load(tiny_bundle).manifest.preprocess)

    class FakeTensorRT:
        name = "tensorrt"
        loaded_from = None

        @classmethod
        def probe(cls):
            return None

        @classmethod
        def load(cls, bundle, precision, threads=None):
            cls.loaded_from = bundle.verified_path(bundle.find("tensorrt", precision))
            return cls()

        def infer(self, batch):
            return np.zeros(len(batch), np.float32)

        def info(self):
            return {"backend": "tensorrt"}

        def close(self):
            pass

    real = select.backend_class
    monkeypatch.setattr(select, "backend_class", lambda n: FakeTensorRT if n == "tensorrt" else real(n))
    with Detector(root) as detector:
        assert (detector.choice.backend, detector.choice.precision) == ("tensorrt", "fp16")
        assert "TensorRT" in detector.info()["reason"]
        assert detector.predict(np.zeros((8, 8, 3), np.uint8)).p_fake == 0.5
    assert sha256_file(FakeTensorRT.loaded_from) == Bundle.load(root).find("tensorrt").files[0].sha256


def test_auto_skips_a_backend_that_fails_to_load(tiny_bundle, monkeypatch):
    from pinclip_sdk.backends.openvino import OpenVINOBackend
    from pinclip_sdk.errors import BackendError

    def broken(*args, **kwargs):
        raise BackendError("simulated compile failure")

    monkeypatch.setattr(OpenVINOBackend, "load", broken)
    with Detector(tiny_bundle) as detector:
        assert detector.choice.backend == "onnxruntime"
        assert "simulated compile failure" in detector.choice.reason
    assert not (cache_dir() / select.CACHE_FILE).exists()  # a failure is not remembered


def test_backend_options(tiny_bundle, images):
    with Detector(tiny_bundle, "openvino", backend_options={"openvino": {"model_cache": False}}) as detector:
        detector.predict(images[0])
    compiled_cache = cache_dir() / "openvino"
    assert not compiled_cache.exists()
    with Detector(tiny_bundle, "openvino") as detector:  # compiled model cached for the next load
        detector.predict(images[0])
    assert any(compiled_cache.iterdir())
    options = {"onnxruntime": {"allow_spinning": False, "inter_op_threads": 1}}
    with Detector(tiny_bundle, "onnxruntime", threads=1, backend_options=options) as detector:
        assert detector.predict(images[0]).ok
    with pytest.raises(ConfigError, match="unknown options"):
        Detector(tiny_bundle, "onnxruntime", backend_options={"onnxruntime": {"spin": 1}})
