"""Exact mode is bit-identical to open_clip's eval transform (float32 `np.array_equal`).

Reference versions (numerics pinned by these tests): Pillow 13.0 (resample pass order of #9549),
torchvision 0.29 (round-half-even crop offsets), open_clip 3.3.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk import PreprocessSpec
from pinclip_sdk.preprocess import Preprocessor

from .conftest import gradient, noise, reference

MODES = ("shortest", "longest", "squash")
INTERPOLATIONS = ("bicubic", "bilinear")
SIZES = ((224, 224), (160, 256))
SHAPES = [
    (1080, 1920),
    (480, 640),
    (517, 333),
    (80, 100),
    (224, 224),
    (1, 1),
    (3, 500),
    (224, 300),
    (300, 300),
    (301, 299),
    (2, 3),
    (700, 31),
]


def make(size, mode, interp, fill=0, **kw) -> Preprocessor:
    return Preprocessor(
        PreprocessSpec(size=size, resize_mode=mode, interpolation=interp, fill_color=fill), **kw
    )


@pytest.mark.parametrize(("mode", "interp", "size"), list(itertools.product(MODES, INTERPOLATIONS, SIZES)))
def test_noise_and_gradients_all_modes(mode, interp, size):
    pre = make(size, mode, interp, fill=91)
    for h, w in SHAPES:
        for array in (noise(h, w), gradient(h, w)):
            want = reference(Image.fromarray(array), size, mode, interp, 91)
            assert np.array_equal(pre(array), want), (mode, interp, size, (h, w))


@pytest.mark.parametrize("mode", MODES)
def test_photos_every_pil_mode(photos, mode):
    pre = make((224, 224), mode, "bicubic", fill=37)
    rng = np.random.default_rng(1)
    for name, array in photos.items():
        rgb = Image.fromarray(array)
        rgba = np.dstack([array, rng.integers(0, 256, array.shape[:2], dtype=np.uint8)])
        alpha_edges = rgba.copy()
        alpha_edges[::7, :, 3] = 0
        alpha_edges[1::7, :, 3] = 255
        images = [rgb, Image.fromarray(rgba, "RGBA"), Image.fromarray(alpha_edges, "RGBA")]
        images += [rgb.convert(m) for m in ("L", "LA", "P", "CMYK", "1", "I;16", "I", "F", "YCbCr")]
        images.append(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=17))
        for image in images:
            want = reference(image, (224, 224), mode, "bicubic", 37)
            assert np.array_equal(pre(image), want), (name, image.mode, mode)


def test_upscaling_identity_and_tiny_sizes():
    pre = make((64, 64), "shortest", "bicubic")
    for h, w in [(64, 64), (1, 1), (1, 7), (7, 1), (63, 65), (20, 30), (64, 200)]:
        array = noise(h, w)
        assert np.array_equal(pre(array), reference(Image.fromarray(array), (64, 64))), (h, w)


@pytest.mark.slow
def test_8k_frame():
    pre = make((224, 224), "shortest", "bicubic", num_threads=2)
    array = noise(4320, 7680)
    assert np.array_equal(pre(array), reference(Image.fromarray(array)))


def test_resample_matches_pillow_pass_order():
    """Pillow 13 resizes vertically first when the height shrinks > 2x more than the width."""
    for (h, w), (oh, ow) in [
        ((300, 300), (100, 200)),
        ((300, 300), (99, 200)),
        ((301, 300), (100, 200)),
        ((2000, 500), (1997, 499)),
        ((2000, 500), (1998, 499)),
        ((517, 333), (224, 224)),
    ]:
        array = noise(h, w)
        pre = make((oh, ow), "squash", "bicubic")
        want = np.asarray(Image.fromarray(array).resize((ow, oh), Image.Resampling.BICUBIC))
        assert np.array_equal(pre.resize_u8(array), want), ((h, w), (oh, ow))


def test_batch_equals_single_calls_and_mixed_inputs(photos):
    pre = make((224, 224), "shortest", "bicubic", num_threads=2)
    images = [photos["astronaut"], Image.fromarray(photos["coffee"]), noise(100, 50), gradient(33, 77)]
    out = pre.batch(images)
    assert out.shape == (4, 3, 224, 224)
    assert out.dtype == np.float32
    for i, image in enumerate(images):
        assert np.array_equal(out[i], pre(image))
