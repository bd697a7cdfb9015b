"""Opt-in fast mode (int16 weights): within one uint8 level of exact mode, and only when opted in."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk import PreprocessSpec
from pinclip_sdk.preprocess import Preprocessor

from .conftest import noise

SPECS = [
    PreprocessSpec(size=size, resize_mode=mode, interpolation=interp)
    for size in ((224, 224), (160, 256))
    for mode in ("shortest", "longest", "squash")
    for interp in ("bicubic", "bilinear")
]


@pytest.mark.parametrize(
    "spec", SPECS, ids=lambda s: f"{s.resize_mode}-{s.interpolation}-{s.size[0]}x{s.size[1]}"
)
def test_fast_mode_within_one_level(spec, photos):
    rng = np.random.default_rng(7)
    exact, fast = Preprocessor(spec), Preprocessor(spec, exact=False)
    shapes = [(1080, 1920), (481, 1003), (8, 1202), (700, 90), (333, 517)]
    shapes += [tuple(int(v) for v in rng.integers(1, 1500, 2)) for _ in range(4)]
    images = [noise(h, w, seed=i) for i, (h, w) in enumerate(shapes)]
    images += [
        np.asarray(Image.fromarray(p).resize((p.shape[1] * 3, p.shape[0] * 3))) for p in photos.values()
    ]
    differing = []
    for image in images:
        for view in (image, image[..., 0], np.dstack([image, image[..., :1]])):
            diff = np.abs(exact.resize_u8(view).astype(int) - fast.resize_u8(view).astype(int))
            assert diff.max() <= 1, view.shape
            differing.append((diff > 0).mean())
    assert np.mean(differing) < 0.01
    level = 1 / (255 * min(spec.std)) + 1e-6  # one uint8 level in normalised units
    frame = images[0]
    assert np.abs(exact(frame) - fast(frame)).max() <= level


def test_fast_mode_really_differs_and_exact_is_default():
    frame = noise(1080, 1920, seed=1)
    spec = PreprocessSpec(size=224)
    assert Preprocessor(spec).exact
    assert not np.array_equal(Preprocessor(spec, exact=False)(frame), Preprocessor(spec)(frame))
