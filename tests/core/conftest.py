"""Shared fixtures of the core tests: reference transforms and images."""

from __future__ import annotations

import functools

import numpy as np
import pytest


@functools.cache
def open_clip_transform(size: tuple[int, int], resize_mode: str, interpolation: str, fill_color: int = 0):
    """open_clip's eval transform (the reference), cached per configuration."""
    open_clip_transform_mod = pytest.importorskip("open_clip.transform")
    cfg = open_clip_transform_mod.PreprocessCfg(
        size=size, resize_mode=resize_mode, interpolation=interpolation, fill_color=fill_color
    )
    return open_clip_transform_mod.image_transform_v2(cfg, is_train=False)


def reference(
    image, size=(224, 224), resize_mode="shortest", interpolation="bicubic", fill_color=0
) -> np.ndarray:
    return open_clip_transform(tuple(size), resize_mode, interpolation, fill_color)(image).numpy()


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 7919 * height + width)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def gradient(height: int, width: int) -> np.ndarray:
    y = np.linspace(0, 255, height)[:, None]
    x = np.linspace(0, 255, width)[None, :]
    return np.stack(
        [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), (x + y) / 2 % 256], -1
    ).astype(np.uint8)


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    data = pytest.importorskip("skimage.data")
    return {name: getattr(data, name)() for name in ("astronaut", "coffee", "chelsea", "rocket")}
