#!/usr/bin/env bash
# Build the C++ core with AddressSanitizer + UndefinedBehaviorSanitizer and run tests/core against it.
#
# The sanitized module is built with plain CMake into build/sanitize (the installed package is not
# touched) and loaded in place of pinclip_sdk._core before the tests import it. Python itself is
# not instrumented, so libasan/libubsan are preloaded; leak detection is off (CPython frees little
# at exit). Any ASan report or UBSan error aborts the run with a non-zero exit code.
#
# Usage: scripts/build_sanitized.sh [extra pytest args, e.g. -k parity]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BUILD=build/sanitize

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPINCLIP_SANITIZE=ON \
  -DSKBUILD_PROJECT_NAME=pinclip_sdk -DSKBUILD_PROJECT_VERSION=0.1.0 \
  -DPython_EXECUTABLE="$PWD/$PY" -Dpybind11_DIR="$($PY -m pybind11 --cmakedir)" >/dev/null
cmake --build "$BUILD" -j 2
MODULE=$(ls "$BUILD"/_core*.so)
echo "[sanitize] built $MODULE"

ASAN_LIB=$(g++ -print-file-name=libasan.so)
UBSAN_LIB=$(g++ -print-file-name=libubsan.so)
export LD_PRELOAD="$ASAN_LIB $UBSAN_LIB"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PINCLIP_SANITIZED_CORE="$PWD/$MODULE"

exec "$PY" - "$@" <<'PYEOF'
import importlib.util
import os
import sys

import pinclip_sdk

spec = importlib.util.spec_from_file_location("pinclip_sdk._core", os.environ["PINCLIP_SANITIZED_CORE"])
module = importlib.util.module_from_spec(spec)
sys.modules["pinclip_sdk._core"] = module
spec.loader.exec_module(module)
pinclip_sdk._core = module
print(f"[sanitize] pinclip_sdk._core <- {module.__file__}", flush=True)

import pytest

sys.exit(pytest.main(["tests/core", "-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
PYEOF
