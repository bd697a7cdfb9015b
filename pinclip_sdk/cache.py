"""The runtime's per-user cache folder (backend choices, compiled OpenVINO models, TensorRT engines).

`$PINCLIP_CACHE_DIR`, else `$XDG_CACHE_HOME/pinclip`, else `~/.cache/pinclip`: one rule, so every
cache of the SDK moves together when a user points it elsewhere (a read-only home, a shared disk).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "PINCLIP_CACHE_DIR"


def cache_root() -> Path:
    """The cache root by the rule above; not created (callers that write create what they need)."""
    root = os.environ.get(CACHE_DIR_ENV)
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "pinclip"


def cache_dir(*parts: str) -> Path:
    """`cache_root()` joined with `parts`, created on first use."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
