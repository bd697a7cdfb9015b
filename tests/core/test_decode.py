"""Decoding: EXIF policy, the opt-in JPEG draft path and its measured error."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from pinclip_sdk import PreprocessSpec
from pinclip_sdk.preprocess import Preprocessor, load_image

from .conftest import reference


def jpeg_bytes(image: Image.Image, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **kw)
    return buffer.getvalue()


def test_jpeg_exact_equals_open_clip_on_pil_decode(photos):
    pre = Preprocessor(PreprocessSpec(size=224))
    for subsampling in (0, 1, 2):
        data = jpeg_bytes(Image.fromarray(photos["coffee"]), subsampling=subsampling)
        want = reference(Image.open(io.BytesIO(data)))
        assert np.array_equal(pre(data), want)


def test_exif_orientation_is_ignored_by_default(photos):
    image = Image.fromarray(photos["chelsea"])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    data = jpeg_bytes(image, exif=exif)
    assert load_image(data).size == image.size  # what open_clip sees
    rotated = load_image(data, exif_transpose=True)
    assert rotated.size == image.size[::-1]
    spec = PreprocessSpec(size=64)
    assert np.array_equal(Preprocessor(spec)(data), reference(Image.open(io.BytesIO(data)), (64, 64)))
    assert np.array_equal(Preprocessor(spec, exif_transpose=True)(data), Preprocessor(spec)(rotated))


def test_draft_decodes_smaller_and_stays_close(photos):
    """Measured draft error (uint8 levels before normalisation, vs exact, see docs/preprocess.md)."""
    spec = PreprocessSpec(size=224)
    exact, draft = Preprocessor(spec), Preprocessor(spec, draft=True)
    means = []
    for name in ("coffee", "chelsea", "rocket"):
        array = photos[name]
        big = Image.fromarray(array).resize(
            (array.shape[1] * 4, array.shape[0] * 4), Image.Resampling.BICUBIC
        )
        data = jpeg_bytes(big)
        decoded = load_image(data, draft_target=lambda w, h: exact.plan(w, h)[:2])
        assert decoded.width < big.width  # the DCT-domain downscale really happened
        diff = np.abs(exact.resize_u8(data).astype(int) - draft.resize_u8(data).astype(int))
        assert diff.max() <= 16
        means.append(diff.mean())
    assert max(means) < 0.8
    png = io.BytesIO()
    Image.fromarray(photos["coffee"]).save(png, "PNG")
    assert np.array_equal(draft(png.getvalue()), exact(png.getvalue()))  # draft only affects JPEG
