"""Smoke test of `benchmarks/realworld.py --quick` on the tiny bundle: every view's bundle copy loads,
every file kind decodes, and the JSON report carries the figures and the machine."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "realworld.py"


def _load():
    spec = importlib.util.spec_from_file_location("realworld_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_reports_every_view_and_kind(tiny_bundle, tmp_path, capsys):
    pytest.importorskip("openvino")
    realworld = _load()
    argv = ["--work", str(tmp_path), "--bundle", str(tiny_bundle), "--quick", "--json"]
    code = realworld.main(argv + ["--precision", "fp32", "--batch", "4", "--e2e-images", "8"])
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if report["accept"] else 1)
    assert set(report["corpus"]) == {"jpeg", "png", "webp", "tiff16"}
    assert report["machine"]["simd_kernels"]
    views = {row["view"]: row for row in report["end_to_end"]}
    assert set(views) == {"resize", "crop", "tiles", "patches"}
    for row in views.values():
        assert row["errors"] == 0, row["error"]
        assert row["pipeline_ips"] > 0
        assert row["inference_ips"] > 0
        assert row["detector_decode"] in ("full", "draft", "region")
    modes = {(r["kind"], r["view"], r["decode"]) for r in report["stages"]}
    assert ("jpeg", "resize", "draft") in modes
    assert ("tiff16", "patches", "full") in modes
    from pinclip_sdk.jpeg_region import region_decode_available

    if region_decode_available():  # the crop view's Detector decodes only its crop
        assert ("jpeg", "crop", "region") in modes
        assert views["crop"]["detector_decode"] == "region"
        assert views["resize"]["detector_decode"] == "full"
    assert all(r["decode_ms"] >= 0 and r["preprocess_ms"] >= 0 for r in report["stages"])
    # the view copies share the base bundle's artifacts and differ only in preprocessing
    from pinclip_sdk.bundle import Bundle

    tiles = Bundle.load(tiny_bundle.with_name(f"{tiny_bundle.stem}-tiles.pinclip")).manifest
    assert tiles.preprocess.view == "tiles"
    assert tiles.artifacts == Bundle.load(tiny_bundle).manifest.artifacts
