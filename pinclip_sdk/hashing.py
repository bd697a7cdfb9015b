"""sha256 of a file, read in chunks: the one digest the bundle, the engine cache and the export use."""

from __future__ import annotations

import hashlib
import os

CHUNK_BYTES = 1 << 20  # artifacts and engines can be hundreds of MB; never read them whole


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
