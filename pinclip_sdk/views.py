"""The tiles view's one rule, shared by the runtime, evaluation and the gate: an image's logit is
the mean (or max) of its tiles' logits (`PreprocessSpec.tile_reduce`, written in the bundle)."""

from __future__ import annotations

import numpy as np

from pinclip_sdk.errors import BackendError
from pinclip_sdk.spec import PreprocessSpec


def image_logits(logits: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Per-image logits from per-row logits: rows i*k .. i*k + k - 1 are image i's k tiles.

    The identity for views with one row per image. Raises BackendError when the row count is not
    a multiple of k (a backend that dropped rows must not shift every later image).
    """
    tiles = spec.tiles_per_image
    flat = np.asarray(logits).reshape(-1)
    if tiles == 1:
        return flat
    if flat.shape[0] % tiles:
        raise BackendError(f"{flat.shape[0]} logits is not a whole number of {tiles}-tile images")
    per_image = flat.astype(np.float64).reshape(-1, tiles)
    reduced = per_image.mean(axis=1) if spec.tile_reduce == "mean" else per_image.max(axis=1)
    return reduced.astype(flat.dtype, copy=False)
