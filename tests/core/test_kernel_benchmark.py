"""benchmarks/kernels.py builds against the current kernels and times every level the CPU runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kernels.py"


@pytest.mark.skipif(not SCRIPT.is_file(), reason="needs the source tree")
@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_kernel_benchmark_times_scalar_and_native_levels(tmp_path):
    from pinclip_sdk import _core

    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--repeat", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    levels = [line.split()[0] for line in run.stdout.splitlines()]
    assert levels[0] == "scalar"
    assert _core.simd_kernels() in levels  # the level the package picks here was timed too
    assert all("x scalar" in line for line in run.stdout.splitlines())
