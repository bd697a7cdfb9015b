"""The runtime path imports no torch and no training or export code (an appliance has neither)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CODE = """
import json, sys
import numpy as np
from pinclip_sdk import Detector

def loaded(prefixes):
    return sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "open_clip", "nncf")
                  or m.startswith(prefixes))

with Detector(sys.argv[1]) as detector:
    detector.predict(np.full((40, 30, 3), 120, np.uint8))
    list(detector.predict_paths([sys.argv[2]]))
    detector.info()
runtime = loaded(("pinclip_sdk.training", "pinclip_sdk.export"))
from pinclip_sdk.cli import main
main(["detect", sys.argv[2], "--model", sys.argv[1], "--format", "jsonl"])
# the CLI parser imports every command module for its help text (no torch at module level)
cli = loaded(("torch",))
print(json.dumps({"runtime": runtime, "cli": cli}))
"""


def test_prediction_imports_no_torch_training_or_export(tiny_bundle, image_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", CODE, str(tiny_bundle), str(image_dir / "img001.jpg")],
        capture_output=True,
        text=True,
        env={**os.environ, "PINCLIP_CACHE_DIR": str(tmp_path / "cache")},
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"runtime": [], "cli": []}
