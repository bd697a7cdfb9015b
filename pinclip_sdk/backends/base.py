"""The protocol every inference backend implements, and the registry that finds them.

A backend executes one bundle artifact: it takes a float32 NCHW batch (the output of the
preprocessing core) and returns one float32 logit per image. Backends and their targets are
described once, in `pinclip_sdk.targets`: adding a backend is one record there plus its module
here (docs/design.md#d2-backends-behind-one-protocol).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pinclip_sdk.cache import cache_dir
from pinclip_sdk.errors import BackendError, BackendUnavailableError, BundleError, ConfigError
from pinclip_sdk.targets import (
    BACKEND_RECORDS,
    OPENVINO_PRECISION_HINTS,
    backend_record,
    check_recorded_options,
    unknown_backend,
)

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from pinclip_sdk.bundle import Artifact, Bundle
    from pinclip_sdk.spec import PreprocessSpec

__all__ = [
    "BACKENDS",
    "OPENVINO_PRECISION_HINTS",
    "RECORDABLE_OPTIONS",
    "Backend",
    "as_logits",
    "backend_class",
    "cache_dir",
    "check_batch",
    "check_input_size",
    "check_recorded_options",
    "checked_options",
    "unknown_backend",
    "static_size",
    "recorded_artifact",
    "with_recorded_options",
]

# backend name -> module defining `BACKEND_CLASS`; imported only when asked for
BACKENDS: dict[str, str] = {b.name: b.module for b in BACKEND_RECORDS}
# backend name -> the load options a bundle may record for its artifacts, with allowed values
RECORDABLE_OPTIONS: dict[str, dict[str, tuple[Any, ...]]] = {
    b.name: dict(b.recordable_options) for b in BACKEND_RECORDS
}


@runtime_checkable
class Backend(Protocol):
    """A loaded, ready-to-run artifact.

    Implementations are classes with `name`, a `probe()` classmethod saying whether the backend can
    run on this machine, a `load()` classmethod, and the instance methods below. `infer` must be
    safe to call from several threads (serialise internally if the engine is not).

    Optional extras the runtime uses when present (read with `getattr`):
    - `concurrency: int` how many `infer` calls may usefully run at once (OpenVINO THROUGHPUT
      streams); the batch pipeline keeps that many batches in flight. Default 1.
    - `load(..., options=...)`: backend-specific settings (e.g. OpenVINO `performance_hint`); the
      Detector passes `options` only when the caller gave some, so `load` may omit the keyword.
      Backends that take options apply the artifact's recorded `load_options` under the caller's
      (`with_recorded_options`), so a bundle runs as its export gate ran it by default.
    - `load_path(path, precision, threads=None, *, options=None, name=None)`: the same load from
      an artifact file outside a finished bundle (the export gate); see `backends.files.load_file`.
    """

    name: str

    @classmethod
    def probe(cls) -> str | None:
        """None if this backend can run here, else a one-line reason (missing package, no GPU)."""
        ...

    @classmethod
    def load(cls, bundle: Bundle, precision: str, threads: int | None = None) -> Backend:
        """Load the bundle's artifact of `precision` (hash-verified through `bundle.verified_path`)."""
        ...

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 [N, 3, H, W] -> float32 [N] logits."""
        ...

    def info(self) -> dict[str, Any]:
        """What runs: backend, precision, artifact, device, library version, threads."""
        ...

    def close(self) -> None: ...


def backend_class(name: str) -> type[Backend]:
    """The backend class registered as `name`; raises with the closest valid name on a typo."""
    record = backend_record(name)
    try:
        module = importlib.import_module(record.module)
    except ImportError as exc:
        why = f"backend {name!r} cannot be imported ({exc}); install {record.extra}"
        raise BackendUnavailableError(why) from exc
    return module.BACKEND_CLASS


def checked_options(backend: str, options: dict[str, Any] | None, known: Iterable[str]) -> dict[str, Any]:
    """A copy of a backend's `backend_options`; ConfigError naming any key it does not know."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"{backend} backend: unknown options {unknown} (known: {', '.join(sorted(known))})")
    return options


def with_recorded_options(artifact: Artifact, options: dict[str, Any] | None) -> dict[str, Any]:
    """The artifact's recorded `load_options` (what its export gate ran) under the caller's `options`:
    a key the caller gives wins; an older bundle without recorded options gets just the caller's."""
    return {**getattr(artifact, "load_options", {}), **(options or {})}


def recorded_artifact(
    bundle: Bundle, backend: str, precision: str, options: dict[str, Any] | None, known: Iterable[str]
) -> tuple[Artifact, Path, dict[str, Any]]:
    """The bundle's `<backend>-<precision>` artifact, its hash-verified path, and the options to load
    it with (the caller's, checked against `known` before any hashing, over the recorded ones)."""
    checked_options(backend, options, known)
    artifact = bundle.find(backend, precision)
    return artifact, bundle.verified_path(artifact), with_recorded_options(artifact, options)


def static_size(shape: Iterable[Any]) -> tuple[int, int] | None:
    """(height, width) of an NCHW input shape whose H and W are fixed integers, else None."""
    dims = list(shape)
    if len(dims) != 4 or not all(isinstance(d, int) and d > 0 for d in dims[2:]):
        return None
    return int(dims[2]), int(dims[3])


def check_input_size(backend: Backend, spec: PreprocessSpec, where: str) -> None:
    """BundleError when the preprocessing spec's size is not the size the loaded model takes:
    such a bundle would load and then fail (or mis-score) every image."""
    input_size = getattr(backend, "input_size", None)
    model_size = input_size() if input_size is not None else None
    if model_size is not None and tuple(spec.size) != model_size:
        raise BundleError(
            f"{where}: preprocess.size {list(spec.size)} does not match the model input (height, width) "
            f"{list(model_size)} of {backend.name}"
        )


def check_batch(batch: Any, where: str) -> np.ndarray:
    """Validate an inference batch once for every backend: float32, 4-D NCHW, C-contiguous."""
    import numpy as np

    ok = isinstance(batch, np.ndarray) and batch.dtype == np.float32 and batch.ndim == 4
    if not ok or batch.shape[1] != 3:
        shape = getattr(batch, "shape", None)
        dtype = getattr(batch, "dtype", type(batch).__name__)
        raise BackendError(f"{where}: expected a float32 [N, 3, H, W] array, got {dtype} with shape {shape}")
    return np.ascontiguousarray(batch)


def as_logits(output: Any, batch_size: int, where: str) -> np.ndarray:
    """A backend's raw output ([N] or [N, 1]) as a float32 [N] array, checked against the batch size."""
    import numpy as np

    logits = np.asarray(output, dtype=np.float32).reshape(-1)
    if logits.shape[0] != batch_size:
        raise BackendError(
            f"{where}: model returned {logits.shape[0]} values for a batch of {batch_size}; "
            "expected one logit per image (output shape [N] or [N, 1])"
        )
    return logits
