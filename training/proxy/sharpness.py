"""A sharpness statistic, to check that fakes are not simply blurrier than reals.

A detector that learns "blurry means fake" teaches nothing about generators, so the builder measures
the mean absolute 4-neighbour Laplacian of the grey image (values in [0, 1]) on the files it wrote,
after JPEG, for both classes, and reports fake / real per family.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image


def laplacian_energy(image: np.ndarray) -> float:
    """Mean |Laplacian| of an HxWx3 (or HxW) uint8 image converted to grey in [0, 1]."""
    grey = image.astype(np.float32) / 255.0
    if grey.ndim == 3:
        grey = grey @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lap = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    return float(np.abs(lap).mean())


def mean_sharpness(paths: Iterable[Path]) -> float:
    """Mean `laplacian_energy` over image files (decoded with Pillow, as the detector will see them)."""
    values = []
    for path in paths:
        with Image.open(path) as image:
            values.append(laplacian_energy(np.asarray(image.convert("RGB"))))
    return float(np.mean(values)) if values else float("nan")
