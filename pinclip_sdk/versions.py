"""Installed versions of libraries, read from package metadata, for reports, manifests and cache keys.

One lookup for the whole SDK (`pinclip version`, `pinclip bench`, the export manifest), so every
report names a library's version the same way. Nothing here imports the libraries themselves,
except TensorRT when pip metadata is missing (JetPack's python3-libnvinfer deb has none).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import sys
from collections.abc import Iterable

from pinclip_sdk.targets import BACKEND_RECORDS

logger = logging.getLogger(__name__)

# distribution names that carry each library's version (the first installed one wins); a library
# not listed here is looked up under its own name
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "tensorrt": ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu11", "tensorrt-libs"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"),
    "openvino": ("openvino",),
    "cuda-python": ("cuda-python", "cuda-bindings"),
    "numpy": ("numpy",),
    "pillow": ("pillow",),
    "pinclip-sdk": ("pinclip-sdk",),
}
# what `pinclip version` and machine descriptions report: the SDK, every backend's library
# (`pinclip_sdk.targets`) and the other libraries the runtime loads
RUNTIME_LIBRARIES: tuple[str, ...] = tuple(
    dict.fromkeys(("pinclip-sdk", *(b.library for b in BACKEND_RECORDS), "cuda-python", "numpy", "pillow"))
)


def distribution_version(library: str) -> str | None:
    """Installed version of `library` (any of its `DISTRIBUTIONS` names), or None."""
    for distribution in DISTRIBUTIONS.get(library, (library,)):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def library_versions(libraries: Iterable[str] = RUNTIME_LIBRARIES) -> dict[str, str | None]:
    """Installed version of each library (None when absent); by default the runtime's libraries.

    Example:
        >>> sorted(library_versions(["numpy", "no-such-library"]))
        ['no-such-library', 'numpy']
    """
    versions = {library: distribution_version(library) for library in libraries}
    if "tensorrt" in versions and versions["tensorrt"] is None:
        versions["tensorrt"] = module_version("tensorrt")
    return versions


def module_version(module_name: str) -> str | None:
    """`module.__version__` if the module is importable, else None (never raises)."""
    try:
        module = sys.modules.get(module_name)
        if module is None:
            if importlib.util.find_spec(module_name) is None:
                return None
            module = importlib.import_module(module_name)
        version = getattr(module, "__version__", None)
    except Exception as exc:  # noqa: BLE001 - a broken install must not break a report
        logger.debug("cannot read %s version: %s", module_name, exc)
        return None
    return str(version) if version is not None else None
