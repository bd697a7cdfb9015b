"""Every SIMD level this CPU runs gives the scalar kernels' pixels; PINCLIP_MAX_SIMD caps the choice;
the per-thread coefficient cache never hands one frame size's weights to another."""

from __future__ import annotations

import numpy as np
import pytest

from pinclip_sdk import PreprocessSpec, _core
from pinclip_sdk.preprocess import Preprocessor

from .conftest import noise, reference

LEVELS = ("avx512vnni", "avx2", "scalar")  # fastest first; NEON is the aarch64 baseline


def engine(monkeypatch, cap: str, size=(224, 224), mode="shortest", exact=True):
    monkeypatch.setenv("PINCLIP_MAX_SIMD", cap)
    return _core.Engine(size, mode, "bicubic", [0.5] * 3, [0.5] * 3, 1, True, exact)


def resized(eng, frame: np.ndarray, layout: str) -> np.ndarray:
    return eng.resize_u8(frame, layout, [0, 0, 0])


def frames() -> list[tuple[np.ndarray, str]]:
    """Heights that are not multiples of the 4/5/8-row blocks, odd crop offsets, every channel layout."""
    rgb = noise(333, 517, seed=11)
    rgba = noise(301, 123, 4, seed=12)
    wide = noise(91, 1001, seed=13)
    return [
        (rgb, "rgb"),
        (rgb[::-1, ::-1], "bgr"),  # negative strides: the staged path must not read them in place
        (rgb[7:250, 3:400], "rgb"),  # a view: odd x origin inside a larger row
        (rgba, "rgba"),
        (wide, "rgb"),
        (noise(1080, 1920, seed=14), "rgb"),
    ]


MODES = [("shortest", (224, 224)), ("squash", (100, 300)), ("longest", (64, 96))]


@pytest.mark.parametrize("cap", LEVELS)
@pytest.mark.parametrize(("mode", "size"), MODES)
def test_each_level_equals_scalar(monkeypatch, cap, mode, size):
    chosen = engine(monkeypatch, cap, size, mode)
    scalar = engine(monkeypatch, "scalar", size, mode)
    assert scalar.kernels == "scalar"
    assert LEVELS.index(chosen.kernels) >= LEVELS.index(cap), "the cap was exceeded"
    for frame, layout in frames():
        assert np.array_equal(resized(chosen, frame, layout), resized(scalar, frame, layout))


@pytest.mark.parametrize("cap", LEVELS)
def test_fast_mode_of_each_level_equals_scalar_fast_mode(monkeypatch, cap):
    chosen = engine(monkeypatch, cap, exact=False)
    scalar = engine(monkeypatch, "scalar", exact=False)
    for frame, layout in frames():
        assert np.array_equal(resized(chosen, frame, layout), resized(scalar, frame, layout))


def test_unknown_cap_is_ignored(monkeypatch):
    assert engine(monkeypatch, "sse9").kernels == _core.simd_kernels()


@pytest.mark.parametrize("cap", LEVELS)
def test_each_level_is_bit_exact_with_open_clip(monkeypatch, cap):
    pytest.importorskip("open_clip")
    from PIL import Image

    monkeypatch.setenv("PINCLIP_MAX_SIMD", cap)
    pre = Preprocessor(PreprocessSpec(size=(224, 224)), num_threads=1)
    frame = noise(720, 1280, seed=21)
    assert np.array_equal(pre(frame), reference(Image.fromarray(frame)))


def test_coefficient_cache_follows_frame_size_crop_and_mode():
    """One thread alternates sizes, crops and exact / fast engines: each result equals a fresh engine's."""
    spec = PreprocessSpec(size=(224, 224))
    exact, fast = Preprocessor(spec, num_threads=1), Preprocessor(spec, num_threads=1, exact=False)
    images = [noise(480, 640, seed=31), noise(481, 640, seed=32), noise(480, 641, seed=33)]
    images += [noise(900, 300, seed=34), images[0][1:], images[0][:, 5:]]
    expected = {
        (i, mode): Preprocessor(spec, num_threads=1, exact=mode == "exact")(image)
        for i, image in enumerate(images)
        for mode in ("exact", "fast")
    }
    for _ in range(2):
        for i, image in enumerate(images):
            assert np.array_equal(exact(image), expected[i, "exact"])
            assert np.array_equal(fast(image), expected[i, "fast"])


def test_tables_too_large_to_cache_stay_correct():
    """70000 px wide squashed to 224: ~1250 taps x 224 positions, more than the cache keeps;
    interleaved with a cached size, both stay right."""
    pre = Preprocessor(PreprocessSpec(size=(224, 224), resize_mode="squash"), num_threads=1)
    long, small = noise(2, 70000, seed=36), noise(300, 400, seed=37)
    want_long = Preprocessor(pre.spec, num_threads=1)(long)
    want_small = Preprocessor(pre.spec, num_threads=1)(small)
    for _ in range(2):
        assert np.array_equal(pre(long), want_long)
        assert np.array_equal(pre(small), want_small)
