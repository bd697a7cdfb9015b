"""Export of a trained PiN-CLIP detector (installed as `pinclip_sdk.export`; needs the `train` extra).

Importing this package must stay cheap: torch, onnx, onnxruntime and openvino are imported by
the submodules that need them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ExportConfig", "GateConfig", "export_bundle", "export_detector"]

_LAZY = {
    "ExportConfig": "pinclip_sdk.export.export_config",
    "GateConfig": "pinclip_sdk.export.gate",
    "export_bundle": "pinclip_sdk.export.bundle_export",
    "export_detector": "pinclip_sdk.export.bundle_export",
}


def __getattr__(name: str) -> Any:
    """Import the public API on first use (keeps `import pinclip_sdk.export` free of torch)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'pinclip_sdk.export' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
