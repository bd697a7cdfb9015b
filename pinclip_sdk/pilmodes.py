"""How each PIL image mode reaches the C++ core, reproducing what PIL + open_clip do with it.

open_clip resizes and crops in the image's own mode and converts to RGB last, so the mode matters:
RGBA is premultiplied during the resize, palette images are resized with NEAREST, CMYK is resized as
four bands. RGB, L, LA, RGBA and CMYK go to the core as arrays (LA as RGBA with L in the colour
channels, which gives the same pixels); every other mode (P, 1, I;16, I, F, YCbCr, ...) is resized
and cropped by Pillow itself, exactly as torchvision would, then handed over already at output size.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageOps

NATIVE_MODES = ("RGB", "L", "RGBA", "LA", "CMYK")
_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


class GeometryPlan(NamedTuple):
    """Geometry of open_clip's transform for one input size (from the core's `compute_plan`)."""

    resize_w: int
    resize_h: int
    left: int
    top: int
    filter: str  # "bicubic" or "bilinear"
    fill: str  # "zero" (torchvision CenterCrop pads with 0) or "color" (CenterCropOrPad, fill_color)


def _torchvision_fill(image: Image.Image, value: int) -> Any:
    """torchvision `_parse_fill`: one int per band for multi-band modes."""
    bands = len(image.getbands())
    if bands > 1:
        return tuple([value] * bands)
    return value


def fill_rgb(mode: str, value: int, palette: list[int] | None = None) -> tuple[int, int, int]:
    """The RGB colour a padded pixel of `mode` holding `value` becomes after `convert("RGB")`."""
    if mode in ("RGB", "L", "RGBA", "LA"):
        return (value, value, value)
    pixel = Image.new(mode, (1, 1))
    probe = Image.new(mode, (1, 1), _torchvision_fill(pixel, value))
    if mode == "P" and palette is not None:
        probe.putpalette(palette)
    return tuple(probe.convert("RGB").getpixel((0, 0)))  # type: ignore[return-value]


def native_array(image: Image.Image) -> tuple[np.ndarray, str]:
    """(array, layout) for a native mode; LA becomes RGBA so the core premultiplies it like Pillow."""
    array = np.asarray(image)
    if image.mode == "RGB":
        return array, "rgb"
    if image.mode == "L":
        return array, "gray"
    if image.mode == "RGBA":
        return array, "rgba"
    if image.mode == "CMYK":
        return array, "cmyk"
    if image.mode == "LA":
        rgba = np.empty(array.shape[:2] + (4,), np.uint8)
        rgba[..., :3] = array[..., :1]
        rgba[..., 3] = array[..., 1]
        return rgba, "rgba"
    raise ValueError(f"mode {image.mode} is not native")


def pil_transform(
    image: Image.Image, plan: GeometryPlan, out_size: tuple[int, int], fill_value: int
) -> Image.Image:
    """Resize + center crop/pad with Pillow, as torchvision / open_clip do, then `convert("RGB")`.

    Used for the modes the core does not read directly; the result is already at `out_size`
    (height, width), so the core only normalises it.
    """
    out_h, out_w = out_size
    if (plan.resize_w, plan.resize_h) != image.size:
        image = image.resize((plan.resize_w, plan.resize_h), _RESAMPLE[plan.filter])
    if out_w > image.width or out_h > image.height:
        dw, dh = max(out_w - image.width, 0), max(out_h - image.height, 0)
        border = (dw // 2, dh // 2, (dw + 1) // 2, (dh + 1) // 2)
        fill = _torchvision_fill(image, fill_value)
        if image.mode == "P":
            palette = image.getpalette()
            image = ImageOps.expand(image, border=border, fill=fill)
            image.putpalette(palette)
        else:
            image = ImageOps.expand(image, border=border, fill=fill)
    if image.size != (out_w, out_h):
        top = int(round((image.height - out_h) / 2.0))
        left = int(round((image.width - out_w) / 2.0))
        image = image.crop((left, top, left + out_w, top + out_h))
    return image.convert("RGB")
