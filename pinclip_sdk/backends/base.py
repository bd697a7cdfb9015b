"""The protocol every inference backend implements, and the registry that finds them.

A backend executes one bundle artifact: it takes a float32 NCHW batch (the output of the
preprocessing core) and returns one float32 logit per image. Adding a backend means one module
here and one entry in `BACKENDS` (design decision 2).
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pinclip_sdk.errors import BackendError, BackendUnavailableError, ConfigError

if TYPE_CHECKING:
    import numpy as np

    from pinclip_sdk.bundle import Bundle

# backend name -> module defining `BACKEND_CLASS`; imported only when asked for
BACKENDS: dict[str, str] = {
    "onnxruntime": "pinclip_sdk.backends.onnxruntime",
    "openvino": "pinclip_sdk.backends.openvino",
    "tensorrt": "pinclip_sdk.backends.tensorrt",
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
    module_path = BACKENDS.get(name)
    if module_path is None:
        close = difflib.get_close_matches(name, BACKENDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"Unknown backend {name!r}. Available: {', '.join(BACKENDS)}.{hint}")
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend {name!r} cannot be imported ({exc}); install pinclip-sdk[{name}]"
        ) from exc
    return module.BACKEND_CLASS


def checked_options(backend: str, options: dict[str, Any] | None, known: Iterable[str]) -> dict[str, Any]:
    """A copy of a backend's `backend_options`; ConfigError naming any key it does not know."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"{backend} backend: unknown options {unknown} (known: {', '.join(sorted(known))})")
    return options


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


def cache_dir(*parts: str) -> Path:
    """Per-user cache folder of the runtime (backend choices, engines): `$PINCLIP_CACHE_DIR`, else
    `$XDG_CACHE_HOME/pinclip`, else `~/.cache/pinclip`; created on first use."""
    root = os.environ.get("PINCLIP_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = str(Path(xdg) / "pinclip") if xdg else str(Path.home() / ".cache" / "pinclip")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
