"""Bundles are untrusted input: paths stay inside the bundle and malformed manifests are refused."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pinclip_sdk import Detector
from pinclip_sdk.bundle import MAX_MANIFEST_BYTES, Bundle, BundleWriter, Manifest, Threshold, sha256_file
from pinclip_sdk.errors import BundleError
from pinclip_sdk.spec import PreprocessSpec

MAIN = "onnxruntime-fp32/detector.onnx"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A small bundle written by the SDK's own BundleWriter (the artifact bytes are not a real model)."""
    root = tmp_path / "inside" / "model.pinclip"
    writer = BundleWriter(root)
    (root / "onnxruntime-fp32").mkdir()
    (root / MAIN).write_bytes(b"not really onnx" * 10)
    (root / "openvino-fp32").mkdir()
    (root / "openvino-fp32" / "detector.xml").write_bytes(b"<xml/>")
    (root / "openvino-fp32" / "detector.bin").write_bytes(b"\x00" * 64)
    writer.add_artifact("onnxruntime-fp32", "onnxruntime", "fp32", [MAIN])
    writer.add_artifact(
        "openvino-fp32", "openvino", "fp32", ["openvino-fp32/detector.xml", "openvino-fp32/detector.bin"]
    )
    writer.finish(
        model_id="untrusted-test",
        backbone={"name": "tiny"},
        preprocess=PreprocessSpec(size=32),
        threshold=Threshold(value=0.4, method="manual", uncertain_band=(0.3, 0.4)),
    )
    return root


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "manifest.json").read_text())


def _write(root: Path, data: Any) -> None:
    (root / "manifest.json").write_text(json.dumps(data))


def _outside_copy(root: Path, relative: str) -> Path:
    """A byte-identical copy of a bundle file outside the bundle (same size and sha256)."""
    target = root.parent.parent / "outside" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / relative, target)
    return target


def test_writer_bundle_loads_and_round_trips(bundle: Path) -> None:
    loaded = Bundle.load(bundle)
    for artifact in loaded.artifacts:
        loaded.verify(artifact)
    assert loaded.manifest.threshold == Threshold(0.4, "manual", (0.3, 0.4), {})
    assert Manifest.from_dict(json.loads(json.dumps(loaded.manifest.to_dict()))) == loaded.manifest


def test_symlinked_artifact_file_outside_is_refused_even_with_matching_hash(bundle: Path) -> None:
    target = _outside_copy(bundle, MAIN)
    (bundle / MAIN).unlink()
    (bundle / MAIN).symlink_to(target)
    assert sha256_file(bundle / MAIN) == _manifest(bundle)["artifacts"][0]["files"][0]["sha256"]
    with pytest.raises(BundleError, match=r"artifacts\[0\]\.files\[0\]\.path .*resolves outside the bundle"):
        Bundle.load(bundle)


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="needs /etc/passwd")
def test_symlink_to_etc_passwd_with_its_hash_is_refused(bundle: Path) -> None:
    (bundle / MAIN).unlink()
    (bundle / MAIN).symlink_to("/etc/passwd")
    data = _manifest(bundle)
    data["artifacts"][0]["files"][0].update(
        sha256=sha256_file("/etc/passwd"), size=Path("/etc/passwd").stat().st_size
    )
    _write(bundle, data)
    with pytest.raises(BundleError, match=r"artifacts\[0\]\.files\[0\]\.path .*outside the bundle"):
        Bundle.load(bundle)


def test_symlinked_artifact_folder_outside_is_refused(bundle: Path) -> None:
    for name in ("detector.xml", "detector.bin"):
        _outside_copy(bundle, f"openvino-fp32/{name}")
    shutil.rmtree(bundle / "openvino-fp32")
    (bundle / "openvino-fp32").symlink_to(bundle.parent.parent / "outside" / "openvino-fp32")
    with pytest.raises(BundleError, match=r"artifacts\[1\]\.files\[0\]\.path .*outside the bundle"):
        Bundle.load(bundle)


def test_symlinked_manifest_outside_is_refused(bundle: Path) -> None:
    target = _outside_copy(bundle, "manifest.json")
    (bundle / "manifest.json").unlink()
    (bundle / "manifest.json").symlink_to(target)
    with pytest.raises(BundleError, match="manifest.json .*outside the bundle"):
        Bundle.load(bundle)


def test_symlink_swapped_in_after_load_is_refused_at_verify(bundle: Path) -> None:
    loaded = Bundle.load(bundle)
    target = _outside_copy(bundle, MAIN)
    (bundle / MAIN).unlink()
    (bundle / MAIN).symlink_to(target)
    with pytest.raises(BundleError, match="outside the bundle"):
        loaded.verified_path(loaded.find("onnxruntime", "fp32"))


def test_symlink_inside_the_bundle_is_allowed(bundle: Path) -> None:
    (bundle / "store").mkdir()
    (bundle / MAIN).rename(bundle / "store" / "detector.onnx")
    (bundle / MAIN).symlink_to(Path("..") / "store" / "detector.onnx")
    loaded = Bundle.load(bundle)
    assert loaded.verified_path(loaded.find("onnxruntime")) == bundle / MAIN


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../outside/x.onnx", "onnxruntime-fp32/../../x", "C:/x", "a\\..\\b"]
)
def test_absolute_and_parent_paths_are_refused(bundle: Path, path: str) -> None:
    data = _manifest(bundle)
    data["artifacts"][0]["files"][0]["path"] = path
    _write(bundle, data)
    with pytest.raises(BundleError, match=r"artifacts\[0\]\.files\[0\]\.path.*escapes the bundle"):
        Bundle.load(bundle)


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def _delete(*keys: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


def _duplicate_artifact(data: dict[str, Any]) -> None:
    data["artifacts"][1]["name"] = data["artifacts"][0]["name"]


MALFORMED = [
    (_set("artifacts", 0, "files", 0, "path", value=12345), r"artifacts\[0\]\.files\[0\]\.path"),
    (_set("artifacts", 0, "files", 0, "path", value=""), r"artifacts\[0\]\.files\[0\]\.path"),
    (_set("artifacts", 0, "files", 0, "sha256", value="abc"), r"artifacts\[0\]\.files\[0\]\.sha256"),
    (_set("artifacts", 0, "files", 0, "size", value=-1), r"artifacts\[0\]\.files\[0\]\.size"),
    (_set("artifacts", 0, "files", 0, "size", value="150"), r"artifacts\[0\]\.files\[0\]\.size"),
    (_delete("artifacts", 0, "files", 0, "sha256"), r"artifacts\[0\]\.files\[0\]\.sha256.*missing"),
    (_set("artifacts", 0, "files", value=[]), r"artifacts\[0\]\.files"),
    (_set("artifacts", 0, "files", value="detector.onnx"), r"artifacts\[0\]\.files"),
    (_set("artifacts", 0, "files", value=[None]), r"artifacts\[0\]\.files\[0\]"),
    (_set("artifacts", 0, "name", value=None), r"artifacts\[0\]\.name"),
    (_set("artifacts", 0, "meta", value=[]), r"artifacts\[0\]\.meta"),
    (_set("artifacts", 0, "extra", value=1), r"artifacts\[0\].*unknown keys"),
    (_duplicate_artifact, r"artifacts\[1\]\.name.*twice"),
    (_set("artifacts", value={}), "artifacts"),
    (_set("artifacts", value=[1]), r"artifacts\[0\]"),
    (_set("threshold", "value", value=None), "threshold.value"),
    (_set("threshold", "value", value=1.5), "threshold.value"),
    (_set("threshold", "value", value=float("nan")), "threshold.value"),
    (_set("threshold", "value", value=True), "threshold.value"),
    (_set("threshold", "method", value="guess"), "threshold.method"),
    (_set("threshold", "uncertain_band", value=[0.5]), "threshold.uncertain_band"),
    (_set("threshold", "uncertain_band", value=[0.6, 0.2]), "threshold.uncertain_band"),
    (_set("threshold", value=0.5), "threshold"),
    (_delete("threshold"), "threshold.*missing"),
    (_delete("threshold", "value"), "threshold.value.*missing"),
    (_set("preprocess", "size", value=100000), "preprocess.size"),
    (_set("preprocess", "size", value=[32, 100000]), r"preprocess.size\[1\]"),
    (_set("preprocess", "size", value=0), "preprocess.size"),
    (_set("preprocess", "size", value="32"), "preprocess.size.*int or a list of two ints"),
    (_set("preprocess", "size", value=[32]), "preprocess.size"),
    (_set("preprocess", "size", value=[32, "32"]), r"preprocess.size\[1\]"),
    (_set("preprocess", "size", value=True), "preprocess.size"),
    (_set("preprocess", "size", value=32.0), "preprocess.size"),
    (_set("preprocess", "std", value=[float("nan"), 0.2, 0.2]), r"preprocess.std\[0\]"),
    (_set("preprocess", "std", value=[0.2, -0.2, 0.2]), r"preprocess.std\[1\]"),
    (_set("preprocess", "std", value=[0.2, 0.2, 0]), r"preprocess.std\[2\]"),
    (_set("preprocess", "std", value=[0.2, 0.2, float("inf")]), r"preprocess.std\[2\]"),
    (_set("preprocess", "std", value="0.2"), "preprocess.std"),
    (_set("preprocess", "mean", value=[0.5, 0.5]), "preprocess.mean"),
    (_set("preprocess", "mean", value=[0.5, None, 0.5]), r"preprocess.mean\[1\]"),
    (_set("preprocess", "fill_color", value=300), "preprocess.fill_color"),
    (_set("preprocess", "resize_mode", value="crop"), "preprocess.resize_mode"),
    (_set("preprocess", "interpolation", value=1), "preprocess.interpolation"),
    (_delete("preprocess", "std"), "preprocess.std.*missing"),
    (_set("preprocess", "gamma", value=2.2), "preprocess.*unknown keys"),
    (_set("preprocess", value=[]), "preprocess"),
    (_set("schema_version", value=True), "schema_version"),
    (_set("model_id", value=5), "model_id"),
    (_set("backbone", value="tiny"), "backbone"),
    (_set("input", "layout", value="NHWC"), "input.layout"),
    (_set("input", value=None), "input"),
    (_set("output", "name", value=[]), "output.name"),
    (_set("provenance", value=[]), "provenance"),
    (_set("created", value=0), "created"),
    (_set("surprise", value=1), "unknown keys"),
]


@pytest.mark.parametrize(("mutate", "field"), MALFORMED)
def test_malformed_manifest_is_a_bundle_error_naming_the_field(
    bundle: Path, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    data = _manifest(bundle)
    mutate(data)
    _write(bundle, data)
    with pytest.raises(BundleError, match=field):
        Bundle.load(bundle)


@pytest.mark.parametrize(
    "text", ["[" * 200_000 + "]" * 200_000, '{"backbone": ' + "[" * 200_000 + "]" * 200_000 + "}"]
)
def test_deeply_nested_manifest_is_refused(bundle: Path, text: str) -> None:
    (bundle / "manifest.json").write_text(text)
    with pytest.raises(BundleError, match="nested too deeply"):
        Bundle.load(bundle)


def test_oversized_manifest_is_refused_unparsed(bundle: Path) -> None:
    data = _manifest(bundle)
    data["provenance"]["padding"] = "x" * MAX_MANIFEST_BYTES
    _write(bundle, data)
    with pytest.raises(BundleError, match="larger than"):
        Bundle.load(bundle)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe{}", "unreadable"),
        (b'{"a": ', "unreadable"),
        (b"1" * 5000, "unreadable"),
    ],
)
def test_unparseable_manifest_is_refused(bundle: Path, raw: bytes, match: str) -> None:
    (bundle / "manifest.json").write_bytes(raw)
    with pytest.raises(BundleError, match=match):
        Bundle.load(bundle)


def test_detector_refuses_a_symlinked_artifact(tiny_bundle: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_bundle, tmp_path / "copy.pinclip")
    outside = tmp_path / "outside.onnx"
    shutil.copyfile(copy / MAIN, outside)
    (copy / MAIN).unlink()
    (copy / MAIN).symlink_to(outside)
    with pytest.raises(BundleError, match="outside the bundle"):
        Detector(copy, "onnxruntime", precision="fp32")
