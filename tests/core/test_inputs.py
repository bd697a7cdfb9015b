"""Numpy inputs: layouts and strides read in place, equal to the PIL path of the same pixels."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk import PreprocessSpec
from pinclip_sdk.preprocess import Preprocessor

from .conftest import noise, reference


@pytest.fixture(scope="module")
def pre() -> Preprocessor:
    return Preprocessor(PreprocessSpec(size=(64, 64)), num_threads=1)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return noise(150, 211, 3, seed=3)


def test_rgb_matches_open_clip(pre, frame):
    assert np.array_equal(pre(frame), reference(Image.fromarray(frame), (64, 64)))


def test_bgr_and_reversed_views(pre, frame):
    want = pre(frame)
    bgr = np.ascontiguousarray(frame[..., ::-1])
    assert np.array_equal(pre(bgr, channel_order="bgr"), want)
    assert np.array_equal(pre(bgr[..., ::-1]), want)  # reversed view of a BGR frame is RGB
    assert np.array_equal(pre(frame[..., ::-1], channel_order="bgr"), want)


def test_roi_flips_and_transposes_equal_their_copies(pre):
    big = noise(300, 400, 3, seed=5)
    views = [
        big[17:230, 33:351],
        big[::2, ::3],
        big[::-1],
        big[:, ::-1],
        big.transpose(1, 0, 2),
        np.asfortranarray(big),
        big[5:200:3, 390:10:-2],
    ]
    for view in views:
        assert np.array_equal(pre(view), pre(np.ascontiguousarray(view))), view.strides


def test_rgb_view_of_rgba_frame(pre):
    rgba = noise(120, 90, 4, seed=9)
    assert np.array_equal(pre(rgba[..., :3]), pre(np.ascontiguousarray(rgba[..., :3])))


def test_rgba_bgra_and_gray(pre):
    rgba = noise(99, 131, 4, seed=11)
    want = reference(Image.fromarray(rgba, "RGBA"), (64, 64))
    assert np.array_equal(pre(rgba), want)
    bgra = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])
    assert np.array_equal(pre(bgra, channel_order="bgr"), want)
    gray = noise(77, 140, 1, seed=12)
    want_gray = reference(Image.fromarray(gray, "L"), (64, 64))
    assert np.array_equal(pre(gray), want_gray)
    assert np.array_equal(pre(gray[..., None]), want_gray)


def test_views_are_not_copied(pre):
    """A zero-stride 8K view (100 MB if materialised) is read in place: tiny peak allocation."""
    row = noise(1, 7680, 3, seed=13)
    view = np.broadcast_to(row, (4320, 7680, 3))
    tracemalloc.start()
    try:
        pre(view)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak


def test_float16_output_is_rounded_float32():
    spec = PreprocessSpec(size=48)
    frame = noise(70, 90, 3, seed=17)
    f32 = Preprocessor(spec)(frame)
    f16 = Preprocessor(spec, dtype="float16")(frame)
    assert f16.dtype == np.float16
    assert np.array_equal(f16, f32.astype(np.float16))


def test_out_buffer_is_filled_in_place(pre, frame):
    out = np.full((2, 3, 64, 64), np.nan, np.float32)
    result = pre.batch([frame, frame[::-1]], out=out)
    assert result is out
    assert np.array_equal(out[0], pre(frame))
    assert np.array_equal(out[1], pre(frame[::-1]))


def test_file_inputs_equal_pil(tmp_path, pre, frame):
    path = tmp_path / "frame.png"
    Image.fromarray(frame).save(path)
    want = pre(frame)
    assert np.array_equal(pre(path), want)
    assert np.array_equal(pre(str(path)), want)
    assert np.array_equal(pre(path.read_bytes()), want)
    with path.open("rb") as f:
        assert np.array_equal(pre(f), want)
