"""Decoding images with Pillow, with typed errors that name the input.

`load_image` is what the preprocessor uses for paths, bytes and file objects. It keeps what open_clip
sees by default: no EXIF rotation (`Image.open` does not apply it), full-resolution decoding, and
Pillow's own decompression-bomb protection, plus our pixel limit checked on the header before any
pixel is decoded.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Union

from PIL import Image, ImageOps, UnidentifiedImageError

from pinclip_sdk.errors import ImageTooLargeError, InvalidImageError

logger = logging.getLogger(__name__)

ImageSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], Image.Image]

# Pillow's default warning threshold (about 89.5 Mpx, e.g. 12000 x 7500); Pillow itself refuses
# twice that. An 8K frame (33 Mpx) is well inside.
DEFAULT_MAX_PIXELS = 89_478_485

# The one set of file suffixes read as images (lower case; matching ignores case): training's dataset
# readers, `pinclip detect` and `pinclip bench` list folders with it, so they all read the same files.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".ico"}
)

# (width, height) -> (resize_width, resize_height): tells the JPEG draft which size is needed.
DraftTarget = Callable[[int, int], "tuple[int, int]"]


def is_image_file(name: str) -> bool:
    """Whether a file name has an image suffix (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES  # noqa: PTH122 (hot path, str only)


def describe_source(source: Any) -> str:
    """A short name for an input, used in error messages."""
    if isinstance(source, (str, os.PathLike)):
        return repr(os.fspath(source))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.mode} {source.width}x{source.height}>"
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return repr(name)
    return f"<{type(source).__name__}>"


def check_pixels(width: int, height: int, max_pixels: int | None, what: str) -> None:
    """Raises `ImageTooLargeError` if width * height exceeds `max_pixels` (None: no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{what}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}; "
            "raise max_pixels if this image is trusted"
        )


def regular_file(
    source: str | os.PathLike, what: str, error: type[InvalidImageError] = InvalidImageError
) -> Path:
    """`source` as a Path if it names a readable regular file, else `error` saying what it is.

    Opening a FIFO blocks until a writer appears and a device may never end, so neither is opened.
    """
    path = Path(source)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise error(f"{what}: no such file") from None
    except OSError as exc:
        raise error(f"{what}: cannot read ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(mode):
        raise error(f"{what}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise error(f"{what}: not a regular file (a pipe, socket or device); pass a file")
    return path


def _open(source: ImageSource, what: str) -> Image.Image:
    if isinstance(source, (str, os.PathLike)):
        return Image.open(regular_file(source, what))
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise InvalidImageError(f"{what}: empty input, no image data")
        return Image.open(io.BytesIO(bytes(source)))
    if hasattr(source, "read"):
        return Image.open(source)
    raise InvalidImageError(
        f"{what}: unsupported input type {type(source).__name__}; expected a path, bytes, a binary "
        "file object, a PIL image, a numpy uint8 array or a YUVFrame"
    )


def load_image(
    source: ImageSource,
    *,
    exif_transpose: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    draft_target: DraftTarget | None = None,
) -> Image.Image:
    """Decodes `source` with Pillow and returns a loaded PIL image.

    Args:
        source: a path, bytes, a binary file object, or a PIL image (checked and returned).
        exif_transpose: rotate / flip by the EXIF orientation tag. Off by default because open_clip
            does not do it: the model was evaluated on unrotated pixels.
        max_pixels: refuse images with more pixels (checked on the header, before decoding);
            None disables our limit but never Pillow's own decompression-bomb check.
        draft_target: opt-in fast JPEG path: maps the full size to the size the resize needs, and
            the JPEG is decoded by libjpeg's DCT scaling at the smallest scale (1/2, 1/4, 1/8) that
            stays at least that large. Not bit-exact (see docs/preprocess.md for the error).

    Raises:
        InvalidImageError: not an image, truncated or corrupt data, a missing file.
        ImageTooLargeError: above `max_pixels`, or refused by Pillow as a decompression bomb.
    """
    what = describe_source(source)
    if isinstance(source, Image.Image):
        check_pixels(source.width, source.height, max_pixels, what)
        return ImageOps.exif_transpose(source) if exif_transpose else source
    try:
        image = _open(source, what)
        check_pixels(image.width, image.height, max_pixels, what)
        if draft_target is not None and image.format == "JPEG":
            want = draft_target(image.width, image.height)
            image.draft(None, want)
            logger.debug("%s: JPEG draft %s for %s", what, image.size, want)
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{what}: refused by Pillow's decompression-bomb check: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError(f"{what}: not an image Pillow can read") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, InvalidImageError):
            raise
        raise InvalidImageError(
            f"{what}: cannot decode image ({exc}); the file may be truncated or corrupt"
        ) from exc
    if image.width < 1 or image.height < 1:
        raise InvalidImageError(f"{what}: image has zero size {image.width}x{image.height}")
    if exif_transpose:
        image = ImageOps.exif_transpose(image)
    return image
