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


def test_load_options_round_trip_and_default_to_none(bundle: Path) -> None:
    data = _manifest(bundle)
    assert [a["load_options"] for a in data["artifacts"]] == [{}, {}]  # the writer records them
    for artifact in data["artifacts"]:
        del artifact["load_options"]  # as in bundles written before the field
    _write(bundle, data)
    assert [a.load_options for a in Bundle.load(bundle).artifacts] == [{}, {}]
    data["artifacts"][1]["load_options"] = {"inference_precision_hint": "f32"}
    _write(bundle, data)
    loaded = Bundle.load(bundle)
    assert loaded.find("openvino").load_options == {"inference_precision_hint": "f32"}
    assert Manifest.from_dict(json.loads(json.dumps(loaded.manifest.to_dict()))) == loaded.manifest


def test_writer_refuses_options_a_bundle_may_not_record(tmp_path: Path) -> None:
    writer = BundleWriter(tmp_path / "w.pinclip")
    (writer.root / "m.onnx").write_bytes(b"onnx")
    with pytest.raises(BundleError, match=r"artifact 'onnxruntime-fp32': load_options: .*\['providers'\]"):
        writer.add_artifact(
            "onnxruntime-fp32", "onnxruntime", "fp32", ["m.onnx"], load_options={"providers": []}
        )
    with pytest.raises(BundleError, match="Unknown backend 'onnx'"):
        writer.add_artifact("onnx-fp32", "onnx", "fp32", ["m.onnx"])
    artifact = writer.add_artifact("openvino-fp32", "openvino", "fp32", ["m.onnx"], load_options={})
    assert artifact.load_options == {}


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
    (_set("artifacts", 0, "backend", value="onnxrt"), r"artifacts\[0\]\.backend.*'onnxrt'"),
    (_set("artifacts", 1, "load_options", value={1: "x"}), r"artifacts\[1\]\.load_options.*\['1'\]"),
    (_set("artifacts", 0, "backend", value=None), r"artifacts\[0\]\.backend"),
    (_set("artifacts", 0, "load_options", value=[]), r"artifacts\[0\]\.load_options: must be an object"),
    (
        _set("artifacts", 0, "load_options", value={"providers": ["CUDAExecutionProvider"]}),
        r"artifacts\[0\]\.load_options: onnxruntime artifacts cannot record .*\['providers'\]",
    ),
    (
        _set("artifacts", 1, "load_options", value={"device": "GPU"}),
        r"artifacts\[1\]\.load_options: openvino .*\['device'\] \(recordable: inference_precision_hint",
    ),
    (
        _set("artifacts", 1, "load_options", value={"inference_precision_hint": "f64"}),
        r"artifacts\[1\]\.load_options: openvino option inference_precision_hint must be one of",
    ),
    (
        _set("artifacts", 1, "load_options", value={"inference_precision_hint": ["f32"]}),
        r"artifacts\[1\]\.load_options",
    ),
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


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_spec_size_that_is_not_the_model_input_is_refused_at_load(
    tiny_bundle: Path, tmp_path: Path, backend: str
) -> None:
    root = shutil.copytree(tiny_bundle, tmp_path / "resized.pinclip")
    data = _manifest(root)
    height, width = data["preprocess"]["size"]
    data["preprocess"]["size"] = [height + 8, width]  # a valid spec, but not what the model takes
    _write(root, data)
    with pytest.raises(BundleError, match=r"preprocess\.size \[\d+, \d+\] does not match the model input"):
        Detector(root, backend)
    with Detector(tiny_bundle, backend) as detector:  # the untouched bundle loads
        assert detector.backend.input_size() == (height, width)
