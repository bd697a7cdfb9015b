"""Property test: random shapes, strides, layouts and modes never crash and match the reference."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk import PreprocessSpec
from pinclip_sdk.errors import InvalidImageError
from pinclip_sdk.preprocess import Preprocessor

from .conftest import reference

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

PRE = {
    (mode, interp): Preprocessor(
        PreprocessSpec(size=(24, 32), resize_mode=mode, interpolation=interp, fill_color=9)
    )
    for mode in ("shortest", "longest", "squash")
    for interp in ("bicubic", "bilinear")
}


@st.composite
def strided_images(draw):
    h = draw(st.integers(1, 70))
    w = draw(st.integers(1, 70))
    channels = draw(st.sampled_from([1, 3, 4]))
    step_y = draw(st.sampled_from([1, 2, -1, -3]))
    step_x = draw(st.sampled_from([1, 3, -1, -2]))
    flip_c = draw(st.booleans())
    transpose = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    base = np.random.default_rng(seed).integers(
        0, 256, (h * abs(step_y), w * abs(step_x), channels), np.uint8
    )
    view = base[::step_y, ::step_x]
    if flip_c:
        view = view[..., ::-1]
    if transpose:
        view = view.transpose(1, 0, 2)
    if channels == 1 and draw(st.booleans()):
        view = view[..., 0]
    return view


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(
    image=strided_images(),
    key=st.sampled_from(sorted(PRE)),
    order=st.sampled_from(["rgb", "bgr"]),
)
def test_strided_arrays_match_open_clip(image, key, order):
    pre = PRE[key]
    try:
        got = pre(image, channel_order=order)
    except InvalidImageError as exc:  # only open_clip's own failure case (resize to zero pixels)
        if "zero pixels" not in str(exc):
            raise
        return
    array = np.ascontiguousarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        pil = Image.fromarray(array, "L")
    elif array.shape[2] == 3:
        pil = Image.fromarray(array if order == "rgb" else array[..., ::-1].copy(), "RGB")
    else:
        pil = Image.fromarray(array if order == "rgb" else array[..., [2, 1, 0, 3]].copy(), "RGBA")
    assert np.array_equal(got, reference(pil, (24, 32), key[0], key[1], 9))


@hypothesis.settings(max_examples=80, deadline=None)
@hypothesis.given(
    shape=st.lists(st.integers(0, 6), min_size=0, max_size=4),
    dtype=st.sampled_from([np.uint8, np.int8, np.uint16, np.float32, np.bool_]),
)
def test_arbitrary_arrays_raise_typed_errors_or_work(shape, dtype):
    array = np.zeros(shape, dtype)
    pre = PRE[("shortest", "bicubic")]
    try:
        out = pre(array)
    except InvalidImageError:
        return
    assert out.shape == (3, 24, 32)
    assert array.dtype == np.uint8
