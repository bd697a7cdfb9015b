"""Load an artifact file that is not (yet) in a finished bundle, with the runtime's backend classes.

The export gate scores artifacts while their bundle is still being written (no manifest yet), and
benchmarks time loose files. Both must run a file exactly as a `Detector` will once it ships, so
`load_file` hands them the very backend class the Detector uses (`backend_class(name).load_path`),
with the load options the bundle records for the artifact: there is no second way to run a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pinclip_sdk.backends.base import Backend, backend_class
from pinclip_sdk.errors import BackendUnavailableError, ConfigError


def load_file(
    path: str | Path,
    backend: str,
    precision: str,
    threads: int | None = None,
    *,
    options: dict[str, Any] | None = None,
    name: str | None = None,
) -> Backend:
    """Load the artifact file `path` (an ONNX file, an OpenVINO `.xml`) with the `backend` class.

    Args:
        options: the backend's load options, as a bundle records them plus any the caller adds.
        name: what logs and errors call the artifact (default `backend-precision`).

    Raises:
        ConfigError: an unknown backend name (no fallback to another backend), or no such file.
        BackendUnavailableError: the backend cannot run here, or loads from bundles only.
    """
    cls = backend_class(backend)
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such artifact file for backend {backend!r}")
    reason = cls.probe()
    if reason is not None:
        raise BackendUnavailableError(f"backend {backend!r} cannot run here: {reason}")
    load_path = getattr(cls, "load_path", None)
    if load_path is None:
        raise BackendUnavailableError(f"backend {backend!r} loads artifacts from a bundle only, not {path}")
    return load_path(path, precision, threads, options=options, name=name or f"{backend}-{precision}")
