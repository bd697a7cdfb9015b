"""Normalisation tables and geometry against torch / torchvision / open_clip formulas."""

from __future__ import annotations

import numpy as np
import pytest

from pinclip_sdk import PreprocessSpec, _core
from pinclip_sdk.preprocess import Preprocessor

MEAN_STD = [
    ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),  # OpenAI
    ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # Inception
    ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet
    ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # MobileCLIP
]


@pytest.mark.parametrize(("mean", "std"), MEAN_STD)
def test_lut_equals_to_tensor_normalize(mean, std):
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("torchvision.transforms")
    levels = np.arange(256, dtype=np.uint8)
    image = np.stack([levels] * 3, -1)[None]  # 1 x 256 x 3 (HWC)
    want = tf.Normalize(mean, std)(tf.ToTensor()(image)).numpy()[:, 0, :]
    engine = _core.Engine((8, 8), "shortest", "bicubic", list(mean), list(std), 1, True)
    lut = engine.lut("float32")
    assert lut.view(np.uint32).tobytes() == np.ascontiguousarray(want).view(np.uint32).tobytes()
    half = torch.from_numpy(want).half().numpy()
    assert np.array_equal(engine.lut("float16").view(np.uint16), half.view(np.uint16))


def test_float_to_half_matches_numpy_on_edge_values():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.standard_normal(20000).astype(np.float32) * np.float32(10.0) ** rng.integers(-9, 6, 20000),
            np.array(
                [0.0, -0.0, 65504, 65519.99, 65520, 1e-8, 2.0**-24, 2.0**-25, 3 * 2.0**-26, np.inf, -np.inf],
                np.float32,
            ),
        ]
    ).astype(np.float32)
    got = np.array([_core.float_to_half(float(v)) for v in values], np.uint16)
    with np.errstate(over="ignore"):
        want = values.astype(np.float16)
    assert np.array_equal(got, want.view(np.uint16))


def _expected_plan(w: int, h: int, size: tuple[int, int], mode: str):
    """Sizes and offsets from torchvision / open_clip's own functions."""
    ot = pytest.importorskip("open_clip.transform")
    fv = pytest.importorskip("torchvision.transforms.functional")

    class Dummy:  # ResizeKeepRatio.get_params only reads .size
        def __init__(self, w, h):
            self.size = (w, h)

    th, tw = size
    if mode == "squash":
        rh, rw = th, tw
    elif mode == "longest":
        rh, rw = ot.ResizeKeepRatio.get_params(Dummy(w, h), size, 1.0)
    elif th == tw:
        rh, rw = fv._compute_resized_output_size((h, w), [th])
    else:
        rh, rw = ot.ResizeKeepRatio.get_params(Dummy(w, h), size, 0.0)
    left = -((tw - rw) // 2) if tw > rw else int(round((rw - tw) / 2.0))
    top = -((th - rh) // 2) if th > rh else int(round((rh - th) / 2.0))
    return rw, rh, left, top


@pytest.mark.parametrize("mode", ["shortest", "longest", "squash"])
@pytest.mark.parametrize("size", [(224, 224), (256, 160), (97, 333)])
def test_geometry_matches_reference_formulas(mode, size):
    rng = np.random.default_rng(42)
    pre = Preprocessor(PreprocessSpec(size=size, resize_mode=mode))
    shapes = [(int(w), int(h)) for w, h in rng.integers(1, 4097, (300, 2))]
    shapes += [(w, h) for w in (224, 225, 223, 447, 449, 1920) for h in (224, 1, 2, 1080, 37, 38)]
    for w, h in shapes:
        try:
            want = _expected_plan(w, h, size, mode)
        except ZeroDivisionError:
            continue
        if min(want[:2]) < 1:
            continue  # open_clip fails on those (resize to zero pixels); tested in test_errors
        plan = pre.plan(w, h)
        assert (plan.resize_w, plan.resize_h, plan.left, plan.top) == want, (w, h)


def test_banker_rounding_of_crop_offsets():
    pre = Preprocessor(PreprocessSpec(size=(224, 224), resize_mode="squash"))
    crop = Preprocessor(PreprocessSpec(size=(10, 10)))
    # a 299-wide resize leaves 75 columns: round(37.5) = 38; 297 -> round(36.5) = 36
    assert crop.plan(299 * 10, 100).left == round((299 - 10) / 2.0)
    assert pre.plan(100, 100).left == 0
    shortest = Preprocessor(PreprocessSpec(size=(224, 224)))
    assert shortest.plan(299, 224).left == 38
    assert shortest.plan(297, 224).left == 36
