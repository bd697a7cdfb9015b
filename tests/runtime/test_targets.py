"""One target record: export, backend selection, Triton, reports and the manifest schema all read
`pinclip_sdk.targets`, and an unknown backend name is an error everywhere."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pinclip_sdk import Detector, targets
from pinclip_sdk.backends.base import BACKENDS, RECORDABLE_OPTIONS, backend_class
from pinclip_sdk.backends.files import load_file
from pinclip_sdk.backends.select import CPU_CANDIDATES, PRECISION_ORDER
from pinclip_sdk.bundle import SCHEMA_PATH, Bundle
from pinclip_sdk.errors import BundleError, ConfigError

SCHEMA = json.loads(SCHEMA_PATH.read_text())


def _artifact_schema() -> dict[str, Any]:
    """The schema of one manifest artifact, resolvable on its own."""
    return {**SCHEMA["$defs"]["artifact"], "$defs": SCHEMA["$defs"]}


def _artifact(backend: str, precision: str, **extra: Any) -> dict[str, Any]:
    file = {"path": f"{backend}/model", "sha256": "0" * 64, "size": 1}
    return {
        "name": f"{backend}-{precision}",
        "backend": backend,
        "precision": precision,
        "files": [file],
        "meta": {},
        **extra,
    }


def test_schema_backends_precisions_and_recordable_options_are_the_records() -> None:
    properties = SCHEMA["$defs"]["artifact"]["properties"]
    assert properties["backend"]["enum"] == list(targets.BACKENDS)
    assert properties["precision"]["enum"] == list(targets.PRECISIONS)
    validator = jsonschema.Draft202012Validator(_artifact_schema())
    for record in targets.BACKEND_RECORDS:
        for option, values in record.recordable_options.items():
            for value in values:
                item = _artifact(record.name, "fp32", load_options={option: value})
                assert validator.is_valid(item), (record.name, option, value)
            refused = _artifact(record.name, "fp32", load_options={option: "no-such-value"})
            assert not validator.is_valid(refused)
        for machine_specific in ("device", "providers", "threads"):
            assert not validator.is_valid(_artifact(record.name, "fp32", load_options={machine_specific: 1}))
    assert not validator.is_valid(_artifact("onnx-runtime", "fp32"))
    assert not validator.is_valid(_artifact("openvino", "fp64"))


def test_every_target_is_schema_valid_and_loads_with_its_backend_module() -> None:
    validator = jsonschema.Draft202012Validator(_artifact_schema())
    assert len({t.name for t in targets.TARGETS}) == len(targets.TARGETS)
    for target in targets.TARGETS:
        item = _artifact(target.backend, target.precision, load_options=dict(target.load_options))
        assert validator.is_valid(item), target.name
        recorded = dict(target.load_options)
        assert targets.check_recorded_options(target.backend, target.load_options) == recorded
        assert target.files[0].endswith((".onnx", ".xml"))
        assert target.files[0].startswith(f"{target.backend}/")
        assert targets.target(target.name) is target


def test_every_table_is_derived_from_the_records() -> None:
    from pinclip_sdk.export import artifacts, export_config, provenance, triton

    assert {b.name: b.module for b in targets.BACKEND_RECORDS} == BACKENDS
    assert {b.name: dict(b.recordable_options) for b in targets.BACKEND_RECORDS} == RECORDABLE_OPTIONS
    assert {t.name: t.files for t in targets.TARGETS} == artifacts.FILES
    assert {t.name: dict(t.load_options) for t in targets.TARGETS if t.load_options} == artifacts.LOAD_OPTIONS
    assert {
        b: {t.precision: t.name for t in targets.TARGETS if t.backend == b} for b in targets.BACKENDS
    } == export_config.TARGETS
    assert set(export_config.ALIASES.values()) <= set(targets.BACKENDS)
    assert {b: targets.precision_order(b) for b in targets.BACKENDS} == PRECISION_ORDER
    assert set(CPU_CANDIDATES) == {b.name for b in targets.BACKEND_RECORDS if "cpu" in b.devices}
    for name, served in triton.TRITON_TARGETS.items():
        assert served.precisions == targets.precision_order(served.artifact_backend), name
    assert set(triton.TRITON_TARGETS) >= set(targets.BACKENDS)
    for record in targets.BACKEND_RECORDS:
        assert record.library in provenance.LIBRARIES
        assert record.extra == f"pinclip-sdk[{record.name}]"
    # OpenVINO IRs are gated and shipped with f32 inference precision on every CPU
    assert targets.target("openvino-int8").load_options == {"inference_precision_hint": "f32"}


def test_manifests_the_sdk_writes_are_schema_valid(tiny_bundle: Path) -> None:
    data = json.loads((tiny_bundle / "manifest.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)


@pytest.mark.parametrize("name", ["onnx-runtime", "OpenVINO", "", "auto"])
def test_unknown_backend_names_are_errors_everywhere(name: str, tiny_bundle: Path, tmp_path: Path) -> None:
    from pinclip_sdk.export.export_config import parse_targets
    from pinclip_sdk.export.gate_artifacts import open_gate_file
    from pinclip_sdk.export.triton import write_triton_repository

    onnx = next(tiny_bundle.rglob("*.onnx"))
    calls = [
        lambda: backend_class(name),
        lambda: targets.backend_record(name),
        lambda: targets.check_recorded_options(name, {}),
        lambda: load_file(onnx, name, "fp32"),
        lambda: open_gate_file("x", onnx, name, "fp32"),
        lambda: write_triton_repository(tiny_bundle, tmp_path / "triton", backends=[name]),
    ]
    if name != "auto":  # `auto` is a valid Detector backend and an empty target list is its own error
        calls.append(lambda: Detector(tiny_bundle, name))
    if name and name.lower() not in targets.BACKENDS:  # export target names are case-insensitive
        calls.append(lambda: parse_targets(name))
    for call in calls:
        with pytest.raises(ConfigError):
            call()
    root = shutil.copytree(tiny_bundle, tmp_path / "renamed.pinclip")
    manifest = json.loads((root / "manifest.json").read_text())
    tampered = copy.deepcopy(manifest)
    tampered["artifacts"][0]["backend"] = name
    (root / "manifest.json").write_text(json.dumps(tampered))
    with pytest.raises(BundleError, match=r"artifacts\[0\]\.backend"):
        Bundle.load(root)
