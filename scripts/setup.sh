#!/usr/bin/env bash
# Create .venv (unless it exists) and install the SDK with every extra the main job and the tests use.
# Builds the C++ preprocessing core (scikit-build-core + pybind11); needs a C++17 compiler and CMake >= 3.15.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
echo "[setup] installing pinclip-sdk[dev] into .venv (first run: a few minutes)"
.venv/bin/python -m pip install --quiet ".[dev]"
echo "[setup] done: $(.venv/bin/pinclip version 2>/dev/null || echo 'pinclip installed')"
