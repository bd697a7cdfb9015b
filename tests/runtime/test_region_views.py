"""The crop and tiles views decode only their regions of a JPEG, and give exactly the pixels of a
full decode: the same tensors with region decode on and off, for every input kind."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk.errors import ConfigError, InvalidImageError
from pinclip_sdk.preprocess import Preprocessor, RegionCrops
from pinclip_sdk.spec import PreprocessSpec

pytestmark = pytest.mark.usefixtures("region_decoder")
SPECS = {
    "crop": PreprocessSpec(size=(40, 56), view="crop", fill_color=9),
    "tiles": PreprocessSpec(size=(40, 56), view="tiles", tile_grid=(2, 3), tile_reduce="max", fill_color=9),
}


def _jpeg(width: int, height: int, seed: int, **options: object) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
    photo = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC)).astype(np.int16)
    photo = np.clip(photo + rng.integers(-12, 13, photo.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", **{"quality": 90, **options})
    return buffer.getvalue()


@pytest.mark.parametrize("view", sorted(SPECS))
@pytest.mark.parametrize(
    ("width", "height", "options"),
    [
        (333, 250, {}),
        (1000, 61, {"subsampling": 0}),  # shorter than the crop: padded in one axis
        (30, 20, {}),  # smaller than the crop in both axes
        (257, 129, {"progressive": True}),
        (400, 300, {"subsampling": 1, "quality": 100}),
    ],
)
def test_region_decode_equals_full_decode(view, width, height, options, tmp_path: Path) -> None:
    data = _jpeg(width, height, width + height, **options)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    spec = SPECS[view]
    region = Preprocessor(spec, num_threads=1, region_decode=True)
    full = Preprocessor(spec, num_threads=1, region_decode=False)
    assert isinstance(region.decode(data), RegionCrops)
    assert isinstance(full.decode(data), Image.Image)
    expected = full.batch([data])
    for source in (data, path, str(path), io.BytesIO(data)):
        np.testing.assert_array_equal(region.batch([source]), expected)
    np.testing.assert_array_equal(region.resize_u8(data), full.resize_u8(data))


def test_mixed_batches_and_formats_fall_back(tmp_path: Path) -> None:
    """PNG, gray arrays and EXIF-rotated JPEGs are decoded in full, in the same batch."""
    spec = SPECS["tiles"]
    region = Preprocessor(spec, num_threads=2, region_decode=True)
    full = Preprocessor(spec, num_threads=2, region_decode=False)
    jpeg = _jpeg(300, 200, 1)
    png = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(png, "PNG")
    gray = np.full((50, 70), 40, np.uint8)
    batch = [jpeg, png.getvalue(), gray, jpeg]
    np.testing.assert_array_equal(region.batch(batch), full.batch(batch))
    assert isinstance(region.decode(png.getvalue()), Image.Image)
    rotated = Preprocessor(spec, region_decode=True, exif_transpose=True)
    assert isinstance(rotated.decode(jpeg), Image.Image)


def test_damaged_jpeg_reports_like_the_full_decode() -> None:
    region = Preprocessor(SPECS["crop"], region_decode=True)
    data = _jpeg(300, 200, 2)
    with pytest.raises(InvalidImageError, match="truncated"):
        region.batch([data[: len(data) // 2]])
    with pytest.raises(InvalidImageError, match="empty"):
        region.batch([b""])


def test_region_decode_is_for_native_crops_only() -> None:
    with pytest.raises(ConfigError, match="crop and tiles"):
        Preprocessor(PreprocessSpec(size=32), region_decode=True)
    assert not Preprocessor(PreprocessSpec(size=32)).region_decode
    assert Preprocessor(SPECS["crop"]).region_decode  # on by default when installed
