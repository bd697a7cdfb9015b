"""`describe_machine()`: works on any machine, never raises, parses Jetson release files."""

from __future__ import annotations

import json
import os

import pytest

from pinclip_sdk import machine
from pinclip_sdk.machine import describe_jetson, describe_machine, jetpack_for_l4t, parse_l4t_release

JP62_RELEASE = (
    "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8\n"
)


def test_describe_machine_here():
    info = describe_machine()
    json.dumps(info)  # JSON-serialisable for `pinclip bench --json`
    assert set(info) == {"cpu", "memory_bytes", "os", "python", "gpus", "cuda", "jetson", "libraries"}
    assert info["cpu"]["logical_cores"] == os.cpu_count()
    assert info["memory_bytes"] > 0
    assert info["python"].split()[1].count(".") == 2
    assert info["libraries"]["numpy"]
    assert isinstance(info["gpus"], list)


def test_a_failing_probe_gives_its_default(monkeypatch):
    def broken():
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(machine, "describe_gpus", broken)
    monkeypatch.setattr(machine, "total_memory_bytes", broken)
    info = describe_machine()
    assert info["gpus"] == []
    assert info["memory_bytes"] is None


@pytest.mark.parametrize(
    ("l4t", "jetpack"),
    [
        ("36.4.3", "6.2"),
        ("36.4.0", "6.1"),
        ("36.3.0", "6.0"),
        ("35.4.1", "5.1.2"),
        ("39.2.0", "7.2"),
        ("30.1", None),
    ],
)
def test_jetpack_for_l4t(l4t, jetpack):
    assert jetpack_for_l4t(l4t) == jetpack


def test_parse_l4t_release():
    assert parse_l4t_release(JP62_RELEASE) == "36.4.3"
    assert parse_l4t_release("not a release file") is None


def test_describe_jetson_from_files(tmp_path, monkeypatch):
    release, model = tmp_path / "nv_tegra_release", tmp_path / "model"
    assert describe_jetson(release, model) is None  # not a Jetson
    release.write_text(JP62_RELEASE)
    model.write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\x00")
    monkeypatch.setattr(machine, "_jetpack_from_dpkg", lambda: None)
    assert describe_jetson(release, model) == {
        "model": "NVIDIA Jetson AGX Orin Developer Kit",
        "l4t": "36.4.3",
        "jetpack": "6.2",
        "jetpack_source": "L4T release table",
    }
    monkeypatch.setattr(machine, "_jetpack_from_dpkg", lambda: "6.2.1")
    assert describe_jetson(release, model)["jetpack"] == "6.2.1"
