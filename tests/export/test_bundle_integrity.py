"""Bundles that were tampered with, truncated or come from an unknown schema are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pinclip_sdk.bundle import Bundle
from pinclip_sdk.errors import BundleError


@pytest.fixture
def bundle_copy(full_bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.pinclip"
    shutil.copytree(full_bundle, target)
    return target


def test_tampered_artifact_refused(bundle_copy: Path) -> None:
    path = bundle_copy / "onnxruntime" / "detector.int8.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    bundle = Bundle.load(bundle_copy)
    with pytest.raises(BundleError, match="does not match the manifest"):
        bundle.verified_path(bundle.find("onnxruntime", "int8"))
    bundle.verified_path(bundle.find("onnxruntime", "fp32"))  # the others still load


def test_truncated_artifact_refused(bundle_copy: Path) -> None:
    path = bundle_copy / "openvino" / "detector.fp32.bin"
    path.write_bytes(path.read_bytes()[:100])
    bundle = Bundle.load(bundle_copy)
    with pytest.raises(BundleError, match="truncated or replaced"):
        bundle.verify(bundle.find("openvino", "fp32"))


def test_unknown_schema_refused(bundle_copy: Path) -> None:
    manifest = bundle_copy / "manifest.json"
    data = json.loads(manifest.read_text())
    data["schema_version"] = 2
    manifest.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="schema_version 2 is not supported"):
        Bundle.load(bundle_copy)


def test_compare_refuses_a_tampered_bundle(bundle_copy: Path) -> None:
    from pinclip_sdk.export.compare import compare_bundle

    path = bundle_copy / "openvino" / "detector.int8.xml"
    path.write_text(path.read_text().replace("FakeQuantize", "FakeQuantizE", 1))
    with pytest.raises(BundleError, match="detector.int8.xml"):
        compare_bundle(bundle_copy, None, ["openvino-int8"])
