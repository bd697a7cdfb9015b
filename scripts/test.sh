#!/usr/bin/env bash
# README command 2: set everything up, then lint and run the whole test suite (no GPU, no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[test] ruff"
.venv/bin/ruff check .
echo "[test] pytest"
# `pytest` (not `python -m pytest`) so the installed package is tested, not the source folder.
.venv/bin/pytest "$@"
