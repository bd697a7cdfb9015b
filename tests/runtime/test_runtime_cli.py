"""`pinclip detect | bench | info | version`, run in-process through the real entry point."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest

from pinclip_sdk.cli import main


def test_detect_folder_writes_jsonl_and_a_summary(tiny_bundle, image_dir, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    code = main(["detect", str(image_dir), "--model", str(tiny_bundle), "--format", "jsonl", "-o", str(out)])
    assert code == 1  # broken.jpg failed, the rest were scored
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(list(image_dir.iterdir()))
    assert [r["source"] for r in rows] == sorted(r["source"] for r in rows)
    errors = [r for r in rows if r["label"] == "error"]
    assert len(errors) == 1
    assert errors[0]["source"].endswith("broken.jpg")
    assert errors[0]["p_fake"] is None
    assert all(
        0 <= r["p_fake"] <= 1 and r["model_id"] == "tiny-conv-test" for r in rows if r["label"] != "error"
    )
    summary = capsys.readouterr().err
    assert f"{len(rows)} files ({len(rows)} images, 0 videos, 0 with provenance)" in summary
    assert "1 error " in summary
    assert "files/s" in summary


def test_detect_glob_table_and_csv(tiny_bundle, image_dir, capsys):
    pattern = str(image_dir / "img00*.png")
    assert main(["detect", pattern, "--model", str(tiny_bundle), "--backend", "openvino"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["label", "p_fake", "source"]
    assert len(table) == 1 + 5
    assert (
        main(["detect", pattern, "--model", str(tiny_bundle), "--format", "csv", "--threshold", "0.01"]) == 0
    )
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 5
    assert {r["label"] for r in rows} == {"fake"}
    assert rows[0]["threshold"] == "0.01"


def test_detect_reports_missing_paths_and_usage_errors(tiny_bundle, image_dir, capsys):
    code = main(["detect", str(image_dir / "img001.jpg"), "/no/such/dir", "--model", str(tiny_bundle)])
    assert code == 1
    assert "/no/such/dir" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["detect", str(image_dir)])  # no --model
    assert exc.value.code == 2
    assert main(["detect", str(image_dir), "--model", str(tiny_bundle), "--batch-size", "0"]) == 2
    assert main(["detect", str(image_dir), "--model", str(image_dir)]) == 1  # not a bundle
    bad_output = ["--output", str(image_dir / "no" / "such" / "dir.jsonl")]
    assert main(["detect", str(image_dir), "--model", str(tiny_bundle), *bad_output]) == 1
    assert "pinclip: error:" in capsys.readouterr().err


def test_info_shows_verification(tiny_bundle, tmp_path, capsys):
    assert main(["info", str(tiny_bundle)]) == 0
    out = capsys.readouterr().out
    assert "tiny-conv-test" in out
    assert "threshold  0.5" in out
    assert out.count(" ok") == 3
    broken = shutil.copytree(tiny_bundle, tmp_path / "b.pinclip")
    (broken / "onnxruntime-int8" / "detector.onnx").write_bytes(b"x")
    assert main(["info", str(broken), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    status = {a["name"]: a["verified"] for a in report["artifacts"]}
    assert status["onnxruntime-fp32"] == "ok"
    assert "truncated" in status["onnxruntime-int8"]


def test_version(capsys):
    assert main(["version", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pinclip_sdk"]
    assert report["libraries"]["onnxruntime"]
    assert "available" in report["core"]


def test_bench_json_shape(tiny_bundle, image_dir, capsys):
    args = ["bench", "--model", str(tiny_bundle), "--backend", "all", "--batch", "1,4", "--precision", "fp32"]
    args += [
        "--images",
        str(image_dir),
        "--seconds",
        "0.05",
        "--iterations",
        "3",
        "--warmup",
        "1",
        "--rounds",
        "2",
        "--json",
    ]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"model", "machine", "settings", "results", "peak_rss_mb"} <= set(report)
    assert report["machine"]["cpu"]["model"]
    assert [(r["backend"], r["batch"]) for r in report["results"]] == [
        ("onnxruntime", 1),
        ("onnxruntime", 4),
        ("openvino", 1),
        ("openvino", 4),
    ]
    for result in report["results"]:
        latency = result["latency_ms"]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"]
        assert latency["runs"] >= 3
        assert result["throughput_ips"] > 0
        assert result["peak_rss_mb"] > 10
        assert set(result["stages_ms"]) == {"decode", "preprocess", "inference"}
        e2e = result["end_to_end"]
        assert e2e["images"] == len(list(image_dir.iterdir()))
        assert e2e["errors"] == 1
        assert e2e["rounds"] == 2
        assert len(e2e["ratios"]) == 2
        assert min(e2e["ratios"]) <= e2e["ratio_to_inference"] <= max(e2e["ratios"])
