#!/usr/bin/env bash
# README command 1: set up .venv (scripts/setup.sh), then run the main job end to end:
# proxy benchmark -> train a small PiN-CLIP -> export (onnxruntime + OpenVINO, FP32 + INT8)
# -> calibrate the threshold -> Detector on held-out generators -> report in quickstart_out/.
# Arguments go to the orchestrator, e.g. `bash scripts/quickstart.sh --smoke` or `--out DIR`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the console script, not `python -m`: that would put the checkout first on sys.path, and the source
# tree (no compiled core, no training/ inside pinclip_sdk/) would shadow the installed package
exec .venv/bin/pinclip quickstart "$@"
