"""`pinclip detect` on a folder mixing images, videos and broken files: one row per file, no traceback."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from pinclip_sdk.cli import main


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory, encode_video):
    root = tmp_path_factory.mktemp("mixed")
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(root / "a.jpg")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, Model: sd15")
    Image.fromarray(np.full((40, 40, 3), 60, np.uint8)).save(root / "b_sd.png", pnginfo=info)
    encode_video(root / "c.mp4", count=20)
    data = encode_video(root / "d_full.mkv", "mpeg4", count=40).read_bytes()
    (root / "d_full.mkv").unlink()
    (root / "d_truncated.mkv").write_bytes(data[: len(data) // 2])
    (root / "e_broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    (root / "f_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(root / "g.png")
    (root / "notes.txt").write_text("not media: skipped by the folder walk")
    return root


def test_one_row_per_file_in_order_with_kinds(tiny_bundle, mixed_dir, capsys):
    code = main(
        ["detect", str(mixed_dir), "--model", str(tiny_bundle), "--backend", "onnxruntime",
         "--format", "jsonl", "--every-s", "0.5", "--no-progress"]
    )  # fmt: skip
    captured = capsys.readouterr()
    rows = {
        json.loads(line)["source"].rsplit("/", 1)[-1]: json.loads(line) for line in captured.out.splitlines()
    }
    assert code == 1  # two broken files
    assert list(rows) == [
        "a.jpg",
        "b_sd.png",
        "c.mp4",
        "d_truncated.mkv",
        "e_broken.mp4",
        "f_broken.jpg",
        "g.png",
    ]
    assert {name: row["kind"] for name, row in rows.items()} == {
        "a.jpg": "image", "b_sd.png": "image", "c.mp4": "video", "d_truncated.mkv": "video",
        "e_broken.mp4": "video", "f_broken.jpg": "image", "g.png": "image",
    }  # fmt: skip
    video = rows["c.mp4"]
    assert video["label"] in ("real", "fake", "uncertain")
    assert [f["t"] for f in video["frames"]] == [0.0, 0.5, 1.0, 1.5]
    assert video["partial"] is False
    assert video["error"] is None
    truncated = rows["d_truncated.mkv"]
    assert truncated["partial"] is True
    assert truncated["frames"]
    assert truncated["error"]
    assert truncated["label"] != "error"
    assert rows["e_broken.mp4"]["label"] == "error"
    assert "VideoError" in rows["e_broken.mp4"]["error"]
    assert rows["f_broken.jpg"]["label"] == "error"
    assert [f["source"] for f in rows["b_sd.png"]["evidence"]] == ["png_text"]
    assert rows["a.jpg"]["evidence"] == []
    assert "Traceback" not in captured.err
    assert "7 files (4 images, 3 videos (1 partial), 1 with provenance)" in captured.err
    assert "2 errors" in captured.err


def test_csv_counts_frames_and_carries_evidence_unless_turned_off(tiny_bundle, mixed_dir, capsys):
    files = [str(mixed_dir / "c.mp4"), str(mixed_dir / "b_sd.png")]
    flags = ["--model", str(tiny_bundle), "--backend", "onnxruntime", "--format", "csv", "--frames", "3"]
    assert main(["detect", *files, *flags]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["kind"], r["frames"], r["partial"]) for r in rows] == [
        ("video", "3", "False"),
        ("image", "", ""),
    ]
    assert rows[0]["evidence"] == "[]"
    assert [f["source"] for f in json.loads(rows[1]["evidence"])] == ["png_text"]
    assert main(["detect", *files, *flags, "--no-evidence"]) == 0
    assert all(r["evidence"] == "" for r in csv.DictReader(io.StringIO(capsys.readouterr().out)))


@pytest.mark.parametrize(
    "flags",
    [
        ["--every-s", "-1"],
        ["--frames", "0"],
        ["--no-evidence", "--provenance-sets-label"],
        ["--every-s", "1", "--frames", "2"],
        ["--frames", "2", "--keyframes"],
    ],
)
def test_bad_video_and_provenance_flags_are_usage_errors(tiny_bundle, mixed_dir, tmp_path, flags):
    proc = subprocess.run(
        [sys.executable, "-m", "pinclip_sdk", "detect", str(mixed_dir), "--model", str(tiny_bundle), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # the installed package, not a source folder in the working directory
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
