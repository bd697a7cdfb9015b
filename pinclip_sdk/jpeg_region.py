"""Decode only a region of a JPEG, bit-identical to Pillow's full decode followed by a crop.

Why: a centre crop or a few native-resolution tiles out of a 12 MP phone JPEG need a
fraction of its pixels, but a full Pillow decode (plus ``convert`` and ``np.asarray``)
pays for all of them.

How: libjpeg-turbo's lossless crop (``tjTransform`` with ``TJXOPT_CROP``, reached through
PyTurboJPEG) copies the quantised DCT coefficients of an iMCU-aligned window around each
box into a small new JPEG, without any IDCT, colour conversion or re-quantisation. That
small JPEG is then decoded by Pillow itself, so the pixels come from the very libjpeg-turbo
build the reference uses. The window keeps at least ``_CONTEXT`` pixels of real image on
every side that is not an image edge, which is what fancy chroma upsampling reads, so every
pixel inside the box equals ``np.asarray(Image.open(f).convert("RGB"))[top:bottom,
left:right]``.

Grayscale JPEGs come back as H x W x 3 with the gray value replicated, as Pillow's
``convert("RGB")`` does.

EXIF orientation is deliberately not handled: boxes are in stored (un-rotated) pixel
coordinates. Callers use region decode only when no EXIF transpose is requested or the
orientation is 1, and do a full decode otherwise.

Needs ``PyTurboJPEG>=1.8.3,<2`` and the shared ``libturbojpeg`` (Debian: ``libturbojpeg0``;
2.x or 3.x both work). Both are imported lazily: ``import pinclip_sdk`` never needs them,
and :func:`region_decode_available` says whether they are there.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from pinclip_sdk.errors import BackendUnavailableError, InvalidImageError

__all__ = [
    "Box",
    "JpegHeader",
    "decode_jpeg_region",
    "decode_jpeg_regions",
    "is_region_eligible",
    "read_jpeg_header",
    "region_decode_available",
    "region_ineligibility",
]

Box = tuple[int, int, int, int]
"""(left, top, right, bottom) in stored image pixels, right/bottom exclusive."""

_INSTALL_HINT = "install PyTurboJPEG>=1.8.3,<2 and the libturbojpeg0 system package"

# Real pixels kept beyond a box on each inner side. Fancy (triangle) chroma upsampling
# reads one chroma sample beyond the output pixel, i.e. at most 1 luma pixel of context
# for 2x subsampling; 2 leaves a safety margin at no measurable cost (the window is
# rounded out to the iMCU grid anyway).
_CONTEXT = 2
# Smallest window side (unless the image is smaller). libjpeg skips fancy upsampling for a
# component at most 2 samples wide (jdsample.c: ``downsampled_width > 2``), so a window only
# 3 or 4 pixels wide would upsample differently from the full image.
_MIN_SPAN = 16

# SOF0 baseline, SOF1 extended sequential (Huffman), SOF2 progressive (Huffman).
_ELIGIBLE_SOF = {0xC0, 0xC1, 0xC2}
_SOF_MARKERS = {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)}
# Luma sampling factors (h, v) of the chroma layouts we accept: 4:4:4, 4:4:0, 4:2:2, 4:2:0.
_ELIGIBLE_LUMA_SAMPLING = {(1, 1), (1, 2), (2, 1), (2, 2)}


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


def _header_ineligibility(h: JpegHeader) -> str | None:
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
    return _header_ineligibility(read_jpeg_header(data))


def is_region_eligible(data: bytes) -> bool:
    """True when :func:`decode_jpeg_region` can decode this JPEG (False for unparsable data)."""
    try:
        return region_ineligibility(data) is None
    except InvalidImageError:
        return False


_LIBRARY_LOCK = threading.Lock()  # see decode_jpeg_regions: warnings capture is process-global


@lru_cache(maxsize=1)
def _turbojpeg() -> Any:
    """The shared PyTurboJPEG handle, or None when the binding or libturbojpeg is missing."""
    try:
        import turbojpeg  # PyTurboJPEG; lazy so the SDK never needs it

        tj = turbojpeg.TurboJPEG()
    except Exception:  # ImportError, OSError (no library), RuntimeError (wrong version)
        return None
    return tj if hasattr(tj, "crop_multiple") else None


def region_decode_available() -> bool:
    """True when PyTurboJPEG and libturbojpeg load; False means: do a full decode instead."""
    return _turbojpeg() is not None


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


def _span(lo: int, hi: int, size: int, align: int) -> tuple[int, int]:
    """One axis of a window: [lo, hi) plus context, start on the iMCU grid, at least _MIN_SPAN."""
    start = max(0, (lo - _CONTEXT) // align * align)
    stop = min(size, hi + _CONTEXT)
    if stop - start < _MIN_SPAN:
        stop = min(size, start + _MIN_SPAN)
        start = max(0, (stop - _MIN_SPAN) // align * align)
    return start, stop


def _window(box: Box, h: JpegHeader) -> Box:
    """The iMCU-aligned window (x0, y0, x1, y1) around a box, with upsampling context."""
    left, top, right, bottom = box
    x0, x1 = _span(left, right, h.width, h.imcu_width)
    y0, y1 = _span(top, bottom, h.height, h.imcu_height)
    return x0, y0, x1, y1


def decode_jpeg_regions(data: bytes, boxes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Decode several boxes of one JPEG in one pass over its entropy-coded data.

    Returns one contiguous H x W x 3 uint8 RGB array per box, each bit-identical to the
    same box of Pillow's full decode + ``convert("RGB")``. Boxes are (left, top, right,
    bottom) in stored pixels and must lie inside the image. Raises InvalidImageError for
    a bad box, undecodable or truncated data (libjpeg warnings count: the reference decode
    would not give clean pixels either) or an ineligible JPEG (check
    :func:`region_ineligibility` first), and BackendUnavailableError when the library is
    missing. libjpeg warnings are caught with ``warnings.catch_warnings``, which is
    process-global before Python 3.14, so the library calls are serialised by a lock: one
    decode's warning is never attributed to another's (an unrelated warning raised by another
    thread meanwhile makes this call raise, and callers then decode in full).
    """
    tj = _turbojpeg()
    if tj is None:
        raise BackendUnavailableError(f"JPEG region decode is unavailable: {_INSTALL_HINT}")
    header = read_jpeg_header(data)
    reason = _header_ineligibility(header)
    if reason is not None:
        raise InvalidImageError(f"JPEG not eligible for region decode: {reason}; decode it in full")
    checked = [_check_box(b, header.width, header.height) for b in boxes]
    if not checked:
        return []
    windows = [_window(b, header) for b in checked]
    crops = [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in windows]
    with _LIBRARY_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pieces = tj.crop_multiple(bytes(data), crops, copynone=True)
        except Exception as e:  # OSError from libturbojpeg: corrupt data, bad crop
            raise InvalidImageError(f"JPEG could not be decoded: {e}") from e
    if caught:
        raise InvalidImageError(f"corrupt or truncated JPEG data: {caught[0].message}")
    from PIL import Image

    out = []
    for piece, (x0, y0, _, _), (left, top, right, bottom) in zip(pieces, windows, checked, strict=True):
        try:
            with Image.open(io.BytesIO(piece)) as im:
                rgb = np.asarray(im.convert("RGB"))
        except Exception as e:  # Pillow raises OSError, ValueError, ...
            raise InvalidImageError(f"cropped JPEG could not be decoded: {e}") from e
        out.append(rgb[top - y0 : bottom - y0, left - x0 : right - x0].copy())
    return out


def decode_jpeg_region(data: bytes, box: Sequence[int]) -> np.ndarray:
    """Decode one box (left, top, right, bottom) of a JPEG to H x W x 3 uint8 RGB.

    Bit-identical to ``np.asarray(Image.open(f).convert("RGB"))[top:bottom, left:right]``;
    see :func:`decode_jpeg_regions` for errors.
    """
    return decode_jpeg_regions(data, [box])[0]
