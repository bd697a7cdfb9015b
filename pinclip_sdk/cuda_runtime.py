"""cuda-python's runtime API, imported one way for the TensorRT backend, its engine cache and `pinclip bench`.

cuda-python 12.6 and later ship it as `cuda.bindings.runtime`, older releases as `cuda.cudart`;
both are tried in that order. Nothing here touches the GPU.
"""

from __future__ import annotations

import importlib
from typing import Any

from pinclip_sdk.errors import BackendUnavailableError

MODULE_NAMES = ("cuda.bindings.runtime", "cuda.cudart")
INSTALL_HINT = (
    "install pinclip-sdk[tensorrt] (on Jetson use JetPack's python3-libnvinfer and pip install cuda-python)"
)


def import_cuda_runtime() -> Any:
    """The runtime module, or BackendUnavailableError saying what to install."""
    errors = []
    for name in MODULE_NAMES:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise BackendUnavailableError(
        f"cuda-python is not installed ({'; '.join(errors)}); the TensorRT backend uses it to manage "
        f"device memory; {INSTALL_HINT}"
    )


def find_cuda_runtime() -> Any | None:
    """The runtime module, or None when cuda-python is absent (for best-effort probes)."""
    try:
        return import_cuda_runtime()
    except BackendUnavailableError:
        return None
