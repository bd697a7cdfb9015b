"""benchmarks/training.py (the README's training figures) prints one JSON object per configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "training.py"
KEYS = {"config", "device", "images_per_s", "peak_memory_mb", "data_loading_ms", "batch_size", "precision"}


@pytest.mark.slow
def test_json_mode_reports_the_figures_of_each_configuration(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), "--configs", "tiny", "--steps", "1", "--warmup", "0", "--json",
           "--channels-last"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert set(report) >= KEYS
    assert report["config"] == "tiny"
    assert report["channels_last"] is True
    assert report["images_per_s"] > 0
    assert report["peak_memory_mb"] > 0
    assert report["data_loading_ms"] > 0


def test_unknown_configuration_is_a_usage_error(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), "--configs", "vit-z"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert done.returncode == 2
    assert "unknown configs ['vit-z']" in done.stderr
