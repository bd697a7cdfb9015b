"""NV12 / I420 frames: OpenCV `cvtColor` parity (BT.601 limited: exact) and the matrix formulas."""

from __future__ import annotations

import numpy as np
import pytest

from pinclip_sdk import PreprocessSpec
from pinclip_sdk.errors import ConfigError, InvalidImageError
from pinclip_sdk.preprocess import Preprocessor, YUVFrame
from pinclip_sdk.yuv import yuv_to_rgb

cv2 = pytest.importorskip("cv2")


def frame_data(h: int, w: int, full: bool, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo_y, hi_y, lo_c, hi_c = (0, 256, 0, 256) if full else (16, 236, 16, 241)
    y = rng.integers(lo_y, hi_y, (h, w))
    c = rng.integers(lo_c, hi_c, (h // 2, w))
    return np.concatenate([y, c]).astype(np.uint8)


def formula_rgb(data: np.ndarray, fmt: str, matrix: str, full: bool) -> np.ndarray:
    """ITU-R BT.601 / BT.709 in float64, chroma replicated per 2x2 block."""
    h, w = data.shape[0] * 2 // 3, data.shape[1]
    y = data[:h].astype(np.float64)
    if fmt == "nv12":
        uv = data[h:].reshape(h // 2, w // 2, 2)
        u, v = uv[..., 0], uv[..., 1]
    else:
        chroma = data[h:].reshape(-1)
        u = chroma[: h * w // 4].reshape(h // 2, w // 2)
        v = chroma[h * w // 4 :].reshape(h // 2, w // 2)
    u = np.repeat(np.repeat(u, 2, 0), 2, 1) - 128.0
    v = np.repeat(np.repeat(v, 2, 0), 2, 1) - 128.0
    kr, kb = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}[matrix]
    if not full:
        y, u, v = (y - 16) * 255 / 219, u * 255 / 224, v * 255 / 224
    r = y + 2 * (1 - kr) * v
    b = y + 2 * (1 - kb) * u
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.round(np.stack([r, g, b], -1)), 0, 255)


@pytest.mark.parametrize(("fmt", "code"), [("nv12", "COLOR_YUV2RGB_NV12"), ("i420", "COLOR_YUV2RGB_I420")])
@pytest.mark.parametrize("shape", [(480, 640), (10, 4), (6, 8), (722, 1282)])
def test_bt601_limited_is_opencv_exact(fmt, code, shape):
    data = np.random.default_rng(1).integers(0, 256, (shape[0] * 3 // 2, shape[1]), dtype=np.uint8)
    want = cv2.cvtColor(data, getattr(cv2, code))
    assert np.array_equal(yuv_to_rgb(YUVFrame(data, fmt)), want)


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("fmt", ["nv12", "i420"])
def test_matrices_within_one_level_of_the_formula(matrix, full, fmt):
    data = frame_data(240, 320, full)
    got = yuv_to_rgb(YUVFrame(data, fmt, matrix, full)).astype(np.float64)
    error = np.abs(got - formula_rgb(data, fmt, matrix, full))
    assert error.max() <= 1
    assert error.mean() < 0.05


def test_preprocessing_a_frame_equals_preprocessing_its_rgb():
    data = frame_data(360, 640, False, seed=3)
    pre = Preprocessor(PreprocessSpec(size=64))
    frame = YUVFrame(data, "nv12", "bt709")
    assert np.array_equal(pre(frame), pre(yuv_to_rgb(frame)))
    rows = np.zeros((data.shape[0], data.shape[1] + 64), np.uint8)
    rows[:, : data.shape[1]] = data  # a row pitch larger than the width
    assert np.array_equal(pre(YUVFrame(rows[:, : data.shape[1]], "nv12", "bt709")), pre(frame))


def test_bad_frames():
    with pytest.raises(ConfigError, match="fmt"):
        YUVFrame(np.zeros((6, 4), np.uint8), "yuyv")
    with pytest.raises(ConfigError, match="matrix"):
        YUVFrame(np.zeros((6, 4), np.uint8), matrix="bt2020")
    pre = Preprocessor(PreprocessSpec(size=16))
    for data, match in [
        (np.zeros((7, 4), np.uint8), "not \\[H\\*3/2, W\\]"),
        (np.zeros((6, 5), np.uint8), "not \\[H\\*3/2, W\\]"),
        (np.zeros((6, 4), np.float32), "uint8"),
        (np.zeros((6, 4, 1), np.uint8), "2-D"),
        (np.zeros((0, 4), np.uint8), "not \\[H\\*3/2, W\\]"),
    ]:
        with pytest.raises(InvalidImageError, match=match):
            pre(YUVFrame(data))
