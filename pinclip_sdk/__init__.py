"""PiN-CLIP Edge SDK: run a CLIP detector of AI-generated images on edge hardware.

The runtime (`Detector`, `Preprocessor`, bundles, backends) needs only numpy and Pillow plus the
backend's own package; importing it never imports torch. Training and export live in
`pinclip_sdk.training` and `pinclip_sdk.export` and need the `train` extra.

Example:
    >>> from pinclip_sdk import Detector                     # doctest: +SKIP
    >>> detector = Detector("model.pinclip")                 # doctest: +SKIP
    >>> detector.predict("photo.jpg").label                  # doctest: +SKIP
    'real'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pinclip_sdk.errors import PinclipError
from pinclip_sdk.spec import PreprocessSpec

__version__ = "0.1.0"

# public name -> module that defines it; imported on first use to keep `import pinclip_sdk` light
_LAZY = {
    "Preprocessor": "pinclip_sdk.preprocess",
    "Detector": "pinclip_sdk.detector",
    "Prediction": "pinclip_sdk.prediction",
    "Bundle": "pinclip_sdk.bundle",
}

__all__ = ["PinclipError", "PreprocessSpec", "__version__", *_LAZY]

if TYPE_CHECKING:
    from pinclip_sdk.bundle import Bundle as Bundle
    from pinclip_sdk.detector import Detector as Detector
    from pinclip_sdk.prediction import Prediction as Prediction
    from pinclip_sdk.preprocess import Preprocessor as Preprocessor


def __getattr__(name: str) -> Any:
    module_path = _LAZY.get(name)
    if module_path is None:
        raise AttributeError(f"module 'pinclip_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_path), name)
    globals()[name] = value
    return value
