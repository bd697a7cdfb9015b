"""Per-pass time of every resample kernel level this CPU runs (1080p -> 224, one thread), vs scalar.

Compiles benchmarks/kernels.cpp with the core's sources (g++, -O3, no -march: the levels are chosen at
run time as in the package) and runs it. `PINCLIP_MAX_SIMD` does not apply here: every level the CPU
supports is timed in the same run.

Usage: python benchmarks/kernels.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"


def sources() -> list[str]:
    files = [ROOT / "benchmarks" / "kernels.cpp", CSRC / "resample.cpp"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        files += [CSRC / "resample_avx2.cpp", CSRC / "resample_avx512.cpp"]
    elif platform.machine().lower() in ("aarch64", "arm64"):
        files.append(CSRC / "resample_neon.cpp")
    return [str(f) for f in files]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="timed runs per level (scalar: a tenth)")
    args = parser.parse_args()
    compiler = shutil.which("g++")
    if compiler is None:
        print("kernels.py needs g++", file=sys.stderr)
        return 2
    defines = ["-DPINCLIP_HAVE_AVX2=1"] if platform.machine().lower() in ("x86_64", "amd64") else []
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "kernels"
        build = [compiler, "-std=c++17", "-O3", "-ffp-contract=off", *defines, "-o", str(exe), *sources()]
        subprocess.run(build, check=True)
        return subprocess.run([str(exe), str(args.repeat)], check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
