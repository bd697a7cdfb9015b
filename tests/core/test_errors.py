"""Bad input raises typed errors that name the input; never a crash."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk import PreprocessSpec
from pinclip_sdk.errors import ConfigError, ImageTooLargeError, InvalidImageError
from pinclip_sdk.preprocess import Preprocessor, load_image

from .conftest import noise


@pytest.fixture(scope="module")
def pre() -> Preprocessor:
    return Preprocessor(PreprocessSpec(size=32), max_pixels=1_000_000)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((10, 10, 3), np.float32), "dtype must be uint8"),
        (np.zeros((10, 10, 3), np.uint16), "dtype must be uint8"),
        (np.zeros((10, 10, 3), bool), "dtype must be uint8"),
        (np.zeros((10, 10, 2), np.uint8), "expected HxW"),
        (np.zeros((10, 10, 5), np.uint8), "expected HxW"),
        (np.zeros((10,), np.uint8), "expected HxW"),
        (np.zeros((2, 10, 10, 3), np.uint8), "expected HxW"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((10, 0), np.uint8), "empty"),
    ],
)
def test_bad_arrays(pre, array, match):
    with pytest.raises(InvalidImageError, match=match) as info:
        pre(array)
    assert "image 0 (numpy array" in str(info.value)


def test_batch_names_the_bad_item(pre):
    with pytest.raises(InvalidImageError, match=r"image 2 \(numpy array"):
        pre.batch([noise(8, 8), noise(9, 9), np.zeros((4, 4, 3), np.int32)])


def test_oversize(pre):
    with pytest.raises(ImageTooLargeError, match="exceeds the limit of 1000000"):
        pre(np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (1001, 1000, 3)))
    big = Image.new("RGB", (1100, 1000))
    with pytest.raises(ImageTooLargeError):
        pre(big)
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    with pytest.raises(ImageTooLargeError, match="bytes"):
        pre(buffer.getvalue())


def test_pillow_decompression_bomb_is_kept(monkeypatch):
    buffer = io.BytesIO()
    Image.new("L", (200, 200)).save(buffer, "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageTooLargeError, match="decompression-bomb"):
        load_image(buffer.getvalue(), max_pixels=None)


def test_truncated_and_non_image_files(tmp_path, pre):
    buffer = io.BytesIO()
    Image.fromarray(noise(64, 64)).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageError, match="cut.jpg"):
        pre(truncated)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(InvalidImageError, match="notes.txt.*not an image"):
        pre(text)
    with pytest.raises(InvalidImageError, match="no such file"):
        pre(tmp_path / "missing.png")
    with pytest.raises(InvalidImageError, match="directory"):
        pre(tmp_path)
    with pytest.raises(InvalidImageError, match="empty input"):
        pre(b"")
    with pytest.raises(InvalidImageError, match="unsupported input type"):
        pre(12345)


def test_out_buffer_validation(pre):
    frame = noise(40, 40)
    with pytest.raises(ConfigError, match="dtype"):
        pre.batch([frame], out=np.empty((1, 3, 32, 32), np.float64))
    with pytest.raises(ConfigError, match="shape"):
        pre.batch([frame], out=np.empty((2, 3, 32, 32), np.float32))
    with pytest.raises(ConfigError, match="C-contiguous"):
        pre.batch([frame], out=np.empty((1, 3, 32, 64), np.float32)[..., ::2])
    readonly = np.empty((1, 3, 32, 32), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ConfigError, match="writeable"):
        pre.batch([frame], out=readonly)


def test_config_errors():
    spec = PreprocessSpec(size=32)
    with pytest.raises(ConfigError, match="dtype"):
        Preprocessor(spec, dtype="float64")
    with pytest.raises(ConfigError, match="num_threads"):
        Preprocessor(spec, num_threads=0)
    with pytest.raises(ConfigError, match="PreprocessSpec"):
        Preprocessor({"size": 32})
    pre = Preprocessor(spec)
    with pytest.raises(ConfigError, match="channel_order"):
        pre(noise(8, 8), channel_order="gbr")
    with pytest.raises(ConfigError, match="sequence"):
        pre.batch(noise(8, 8))


def test_resize_to_zero_pixels_is_an_error():
    pre = Preprocessor(PreprocessSpec(size=(32, 32), resize_mode="longest"))
    with pytest.raises(InvalidImageError, match="zero pixels"):
        pre(noise(1, 200))
