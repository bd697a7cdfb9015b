"""Camera frames in YUV 4:2:0 (NV12, I420) and their conversion to RGB.

The conversion uses OpenCV's fixed-point scheme (`cvtColor(..., COLOR_YUV2RGB_NV12/I420)`: 20-bit
coefficients rounded to three decimals, chroma shared by each 2x2 block); for BT.601 limited range it
is OpenCV's exact arithmetic, and BT.709 / full range use the same scheme with their own matrices.
The RGB frame is then preprocessed like any other array (resize after colour conversion, as a camera
pipeline feeding open_clip through OpenCV would do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pinclip_sdk import _core
from pinclip_sdk.errors import ConfigError, InvalidImageError

YUV_FORMATS = ("nv12", "i420")
YUV_MATRICES = ("bt601", "bt709")


@dataclass(frozen=True)
class YUVFrame:
    """A YUV 4:2:0 camera frame.

    Args:
        data: uint8 array of shape `[H * 3 / 2, W]`: the Y plane, then interleaved UV (NV12) or the U
            and V planes (I420). H and W must be even.
        fmt: "nv12" or "i420".
        matrix: "bt601" (SD cameras, OpenCV's default) or "bt709" (HD cameras).
        full_range: True for full-range (JPEG-style 0-255) Y, False for limited range (16-235).
    """

    data: np.ndarray
    fmt: str = "nv12"
    matrix: str = "bt601"
    full_range: bool = False

    def __post_init__(self) -> None:
        if self.fmt not in YUV_FORMATS:
            raise ConfigError(f"YUVFrame fmt {self.fmt!r} is not one of {YUV_FORMATS}")
        if self.matrix not in YUV_MATRICES:
            raise ConfigError(f"YUVFrame matrix {self.matrix!r} is not one of {YUV_MATRICES}")
        if not isinstance(self.data, np.ndarray):
            raise InvalidImageError(f"YUVFrame data must be a numpy array, got {type(self.data).__name__}")

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    @property
    def height(self) -> int:
        return int(self.data.shape[0]) * 2 // 3


def yuv_to_rgb(frame: YUVFrame, *, what: str = "YUVFrame") -> np.ndarray:
    """The frame as a uint8 `[H, W, 3]` RGB array (computed by the core, GIL released)."""
    data = frame.data
    if data.dtype != np.uint8:
        raise InvalidImageError(f"{what}: dtype must be uint8, got {data.dtype}")
    if data.ndim != 2:
        raise InvalidImageError(f"{what}: data must be 2-D [H*3/2, W], got shape {data.shape}")
    rows, width = data.shape
    # rows = 3 * H / 2 with H even means rows is a multiple of 3 (then H = 2 * rows / 3 is even).
    if rows % 3 or width % 2 or rows == 0 or width == 0:
        raise InvalidImageError(f"{what}: shape {data.shape} is not [H*3/2, W] with H, W even and non-zero")
    try:
        return _core.yuv420_to_rgb(data, frame.fmt, frame.matrix, frame.full_range)
    except ValueError as exc:
        raise InvalidImageError(f"{what}: {exc}") from exc
