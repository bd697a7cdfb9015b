"""The SIMD resample kernels equal the scalar ones, checked by a C++ self-test (csrc/tests).

The NEON build is cross-compiled and run under qemu-aarch64 when that toolchain is installed
(`apt-get install g++-aarch64-linux-gnu qemu-user-static`; `.ci/run` does, and sets
PINCLIP_REQUIRE_NEON=1 so a missing tool fails the test instead of skipping it); the native build
checks every x86-64 level the CPU runs (AVX2, and AVX-512 VNNI where present).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[2] / "csrc"
SOURCES = [CSRC / "tests" / "simd_selftest.cpp", CSRC / "resample.cpp"]
FLAGS = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off"]


def _build_and_run(compiler: str, extra: list[str], runner: list[str], out: Path) -> str:
    build = subprocess.run(
        [compiler, *FLAGS, *extra, "-o", str(out), *map(str, SOURCES)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([*runner, str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.mark.skipif(not CSRC.is_dir(), reason="needs the source tree")
def test_neon_kernels_equal_scalar_under_qemu(tmp_path):
    compiler = shutil.which("aarch64-linux-gnu-g++")
    qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if not (compiler and qemu):
        missing = "aarch64 cross compiler (aarch64-linux-gnu-g++) or qemu-aarch64(-static) not installed"
        if os.environ.get("PINCLIP_REQUIRE_NEON") == "1":
            pytest.fail(f"PINCLIP_REQUIRE_NEON=1 but {missing}")
        pytest.skip(missing)
    out = _build_and_run(compiler, ["-static", str(CSRC / "resample_neon.cpp")], [qemu], tmp_path / "neon")
    assert "kernels: neon" in out
    assert ", 0 failures" in out


@pytest.mark.skipif(not CSRC.is_dir(), reason="needs the source tree")
def test_native_simd_kernels_equal_scalar(tmp_path):
    compiler = shutil.which("g++")
    if not compiler:
        pytest.skip("no g++")
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        extra = ["-DPINCLIP_HAVE_AVX2=1", str(CSRC / "resample_avx2.cpp"), str(CSRC / "resample_avx512.cpp")]
    elif machine in ("aarch64", "arm64"):
        extra = [str(CSRC / "resample_neon.cpp")]
    else:
        pytest.skip(f"no SIMD kernels for {machine}")
    out = _build_and_run(compiler, extra, [], tmp_path / "native")
    assert ", 0 failures" in out
    if machine in ("x86_64", "amd64"):
        assert "kernels: avx2" in out or "avx2" not in _cpu_flags()


def _cpu_flags() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
