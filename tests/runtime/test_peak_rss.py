"""`pinclip bench` reports the peak RSS of its own process, not one inherited from its parent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux-only")
def test_bench_child_of_a_big_parent_reports_its_own_peak(tiny_bundle, tmp_path):
    ballast = np.ones(1024 * 2**20, dtype=np.uint8)  # the parent touches 1 GB first, as a build script would
    command = [sys.executable, "-m", "pinclip_sdk.cli", "bench", "--model", str(tiny_bundle), "--json"]
    command += ["--backend", "onnxruntime", "--precision", "fp32", "--batch", "1", "--seconds", "0.05"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # outside the checkout, so the installed package is imported
        env={**os.environ, "PINCLIP_CACHE_DIR": str(tmp_path / "cache")},
    )
    report = json.loads(result.stdout)
    assert 0 < report["process_peak_rss_mb"] < 700, "the child's peak includes the parent's memory"
    assert report["peak_rss_mb"] <= report["process_peak_rss_mb"]
    assert ballast.sum() == ballast.size
