"""Decode only the regions of a JPEG a native view reads, bit-identical to Pillow's full decode
followed by a crop.

Why: a centre crop or a few native-resolution tiles out of a 12 MP phone JPEG need a fraction of
its pixels, but a full Pillow decode (plus ``convert`` and ``np.asarray``) pays for all of them.

How: the C++ core (``csrc/jpeg_region.cpp``, built against libjpeg-turbo) decodes in one pass:
rows above a box are skipped (``jpeg_skip_scanlines``: entropy decoding only, no IDCT), only the
boxes' columns are reconstructed (``jpeg_crop_scanline``), and decoding stops after the last box's
row, so the rest of the file is never read. Each box keeps 32 pixels of decoded context on every
inner side (two iMCUs of 4:2:0), which is what fancy chroma upsampling needs for the pixels inside
the box to equal ``np.asarray(Image.open(f).convert("RGB"))[top:bottom, left:right]``. Because the
core links the system's libjpeg-turbo and Pillow bundles its own, :func:`region_decode_available`
also checks, once per process, that the two agree bit for bit on a small test image.

Grayscale JPEGs come back as H x W x 3 with the gray value replicated, as Pillow's
``convert("RGB")`` does.

EXIF orientation is deliberately not handled: boxes are in stored (un-rotated) pixel
coordinates. Callers use region decode only when no EXIF transpose is requested, and do a full
decode otherwise.

Truncated files (no end-of-image marker after the scans) and libjpeg warnings raise
InvalidImageError, so callers decode in full and the full decode reports the damage. Needs the
core built with libjpeg-turbo's headers (Debian / Ubuntu: ``apt-get install libjpeg-dev`` before
installing); without them :func:`region_decode_available` is False and views decode in full.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pinclip_sdk import _core
from pinclip_sdk.errors import BackendUnavailableError, InvalidImageError

__all__ = [
    "Box",
    "JpegHeader",
    "decode_jpeg_region",
    "decode_jpeg_regions",
    "header_ineligibility",
    "is_region_eligible",
    "read_jpeg_header",
    "region_decode_available",
    "region_ineligibility",
]

Box = tuple[int, int, int, int]
"""(left, top, right, bottom) in stored image pixels, right/bottom exclusive."""

logger = logging.getLogger(__name__)

_INSTALL_HINT = (
    "the core was built without libjpeg-turbo (install libjpeg-dev, Debian / Ubuntu, then reinstall)"
)

# SOF0 baseline, SOF1 extended sequential (Huffman), SOF2 progressive (Huffman).
_ELIGIBLE_SOF = {0xC0, 0xC1, 0xC2}
_SOF_MARKERS = {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)}
# Luma sampling factors (h, v) of the chroma layouts we accept (the ones Pillow writes and the
# tests check): 4:4:4, 4:2:2, 4:2:0.
_ELIGIBLE_LUMA_SAMPLING = {(1, 1), (2, 1), (2, 2)}


@dataclass(frozen=True)
class JpegHeader:
    """What the frame header says; enough to align crops and judge eligibility."""

    width: int
    height: int
    sof_marker: int
    precision: int
    component_ids: tuple[int, ...]
    sampling: tuple[tuple[int, int], ...]  # (h, v) per component
    jfif: bool
    adobe: bool

    @property
    def imcu_width(self) -> int:
        """Width of one iMCU in pixels: crop windows must start on this grid."""
        return 8 * max(h for h, _ in self.sampling)

    @property
    def imcu_height(self) -> int:
        """Height of one iMCU in pixels."""
        return 8 * max(v for _, v in self.sampling)


def read_jpeg_header(data: bytes) -> JpegHeader:
    """Parse the markers up to the first SOS; raise InvalidImageError if that fails."""
    buf = memoryview(data)
    n = len(buf)
    if n < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
        raise InvalidImageError("not a JPEG: data does not start with the SOI marker FF D8")
    i = 2
    jfif = adobe = False
    sof: tuple[int, bytes] | None = None
    while True:
        if i >= n or buf[i] != 0xFF:
            raise InvalidImageError(f"corrupt or truncated JPEG: no marker at byte {i}")
        while i < n and buf[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            raise InvalidImageError("truncated JPEG: ends inside a marker")
        marker = buf[i]
        i += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            continue
        if marker == 0xD9:
            raise InvalidImageError("corrupt JPEG: EOI before any image data (SOS)")
        if i + 2 > n:
            raise InvalidImageError("truncated JPEG: ends inside a marker segment")
        seglen = (buf[i] << 8) | buf[i + 1]
        if seglen < 2 or i + seglen > n:
            raise InvalidImageError(f"truncated JPEG: marker FF {marker:02X} segment overruns the data")
        seg = bytes(buf[i + 2 : i + seglen])
        if marker == 0xE0 and seg.startswith(b"JFIF\x00"):
            jfif = True
        elif marker == 0xEE and seg.startswith(b"Adobe"):
            adobe = True
        elif marker in _SOF_MARKERS and sof is None:
            sof = (marker, seg)
        elif marker == 0xDA:
            break
        i += seglen
    if sof is None:
        raise InvalidImageError("corrupt JPEG: no frame header (SOF) before the scan")
    marker, seg = sof
    if len(seg) < 6:
        raise InvalidImageError("corrupt JPEG: frame header too short")
    ncomp = seg[5]
    if ncomp == 0 or len(seg) < 6 + 3 * ncomp:
        raise InvalidImageError("corrupt JPEG: frame header lists no or truncated components")
    comps = [seg[6 + 3 * k : 9 + 3 * k] for k in range(ncomp)]
    sampling = tuple((c[1] >> 4, c[1] & 0x0F) for c in comps)
    if any(h == 0 or v == 0 for h, v in sampling):
        raise InvalidImageError("corrupt JPEG: a component has a zero sampling factor")
    return JpegHeader(
        width=(seg[3] << 8) | seg[4],
        height=(seg[1] << 8) | seg[2],
        sof_marker=marker,
        precision=seg[0],
        component_ids=tuple(c[0] for c in comps),
        sampling=sampling,
        jfif=jfif,
        adobe=adobe,
    )


def header_ineligibility(h: JpegHeader) -> str | None:
    """Why a parsed header rules out region decode, or None (see region_ineligibility)."""
    if h.sof_marker not in _ELIGIBLE_SOF:
        return f"SOF marker FF {h.sof_marker:02X} (arithmetic, lossless or hierarchical coding)"
    if h.precision != 8:
        return f"{h.precision}-bit samples"
    if h.width == 0 or h.height == 0:
        return "zero width or height in the frame header (DNL marker)"
    if h.adobe:
        return "Adobe APP14 marker (colour transform chosen by the marker)"
    if len(h.sampling) == 1:
        return None
    if len(h.sampling) != 3:
        return f"{len(h.sampling)} components (CMYK/YCCK or unusual)"
    if not h.jfif and h.component_ids == (0x52, 0x47, 0x42):
        return "RGB colour space (component ids 'R', 'G', 'B')"
    if h.sampling[0] not in _ELIGIBLE_LUMA_SAMPLING or h.sampling[1:] != ((1, 1), (1, 1)):
        return f"unusual chroma subsampling {h.sampling}"
    return None


def region_ineligibility(data: bytes) -> str | None:
    """Why this JPEG cannot be region-decoded (caller does a full decode), or None if it can.

    Eligible: 8-bit baseline, extended-sequential or progressive Huffman JPEGs, in gray or
    YCbCr with 4:4:4, 4:4:0, 4:2:2 or 4:2:0 chroma. Raises InvalidImageError when the
    markers cannot be parsed at all.
    """
    return header_ineligibility(read_jpeg_header(data))


def is_region_eligible(data: bytes) -> bool:
    """True when :func:`decode_jpeg_region` can decode this JPEG (False for unparsable data)."""
    try:
        return region_ineligibility(data) is None
    except InvalidImageError:
        return False


def _self_check_image() -> tuple[bytes, np.ndarray]:
    """A small 4:2:0 JPEG with edges and texture, and Pillow's full decode of it."""
    from PIL import Image

    rng = np.random.default_rng(20261207)
    y, x = np.mgrid[0:75, 0:97]
    pixels = np.stack([x * 2.5, y * 3.0, (x + y) * 1.4], -1) + rng.normal(0, 24, (75, 97, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=88, subsampling=2)
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        return data, np.asarray(im.convert("RGB"))


@lru_cache(maxsize=1)
def region_decode_available() -> bool:
    """True when the core has the region decoder and it agrees bit for bit with Pillow's decoder
    on a test image (the core links the system's libjpeg-turbo, Pillow its own); False means:
    decode in full."""
    if not getattr(_core, "has_jpeg_regions", False):
        return False
    data, full = _self_check_image()
    boxes = [(0, 0, 97, 75), (33, 21, 70, 58), (1, 40, 9, 75), (80, 0, 97, 13)]
    try:
        crops = _core.decode_jpeg_regions(data, boxes)
    except ValueError as exc:
        logger.warning("JPEG region decode disabled: its self-check failed (%s)", exc)
        return False
    same = all(
        np.array_equal(crop, full[top:bottom, left:right])
        for crop, (left, top, right, bottom) in zip(crops, boxes, strict=True)
    )
    if not same:
        logger.warning(
            "JPEG region decode disabled: the core's libjpeg and Pillow's decode a test image differently"
        )
    return same


def _check_box(box: Sequence[int], width: int, height: int) -> Box:
    try:
        left, top, right, bottom = (int(v) for v in box)
    except (TypeError, ValueError):
        raise InvalidImageError(f"box {box!r} is not four integers (left, top, right, bottom)") from None
    if not (0 <= left < right <= width and 0 <= top < bottom <= height):
        raise InvalidImageError(
            f"box {(left, top, right, bottom)} is empty or outside the {width}x{height} image; "
            "need 0 <= left < right <= width and 0 <= top < bottom <= height"
        )
    return left, top, right, bottom


def decode_jpeg_regions(data: bytes, boxes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Decode several boxes of one JPEG in one pass over its entropy-coded data.

    Returns one contiguous H x W x 3 uint8 RGB array per box, each bit-identical to the
    same box of Pillow's full decode + ``convert("RGB")``. Boxes are (left, top, right,
    bottom) in stored pixels and must lie inside the image. Raises InvalidImageError for
    a bad box, undecodable or truncated data (libjpeg warnings count: the reference decode
    would not give clean pixels either) or an ineligible JPEG (check
    :func:`region_ineligibility` first), and BackendUnavailableError when the core has no
    region decoder. Thread-safe; the core releases the GIL.
    """
    if not region_decode_available():
        raise BackendUnavailableError(f"JPEG region decode is unavailable: {_INSTALL_HINT}")
    header = read_jpeg_header(data)
    reason = header_ineligibility(header)
    if reason is not None:
        raise InvalidImageError(f"JPEG not eligible for region decode: {reason}; decode it in full")
    checked = [_check_box(b, header.width, header.height) for b in boxes]
    if not checked:
        return []
    try:
        return list(_core.decode_jpeg_regions(data, checked))
    except ValueError as exc:
        raise InvalidImageError(f"JPEG region decode failed: {exc}") from exc


def decode_jpeg_region(data: bytes, box: Sequence[int]) -> np.ndarray:
    """Decode one box (left, top, right, bottom) of a JPEG to H x W x 3 uint8 RGB.

    Bit-identical to ``np.asarray(Image.open(f).convert("RGB"))[top:bottom, left:right]``;
    see :func:`decode_jpeg_regions` for errors.
    """
    return decode_jpeg_regions(data, [box])[0]
