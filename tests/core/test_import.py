"""The runtime side imports no torch (nor open_clip, torchvision, cv2)."""

from __future__ import annotations

import subprocess
import sys


def test_preprocess_imports_no_torch(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "import pinclip_sdk\n"
        "from pinclip_sdk import Preprocessor, PreprocessSpec\n"
        "from pinclip_sdk.preprocess import YUVFrame, load_image\n"
        "Preprocessor(PreprocessSpec(size=8))(np.zeros((9, 9, 3), np.uint8))\n"
        "bad = sorted(m for m in ('torch', 'torchvision', 'open_clip', 'cv2') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
