"""`Preprocessor`: open_clip's eval transform, bit-exact, in the C++ core (`pinclip_sdk._core`).

The spec's view picks what the model sees: open_clip's resize (below), or a native-resolution
centre crop, a grid of native tiles, or the patch-selection mosaic (docs/views.md), each equal to
its reference in tests/core/test_views.py.

Exact mode (the default) gives the same float32 tensor as
`open_clip.transform.image_transform_v2(PreprocessCfg(...), is_train=False)` on the same PIL image:
Pillow's fixed-point resample (pass order included), torchvision's size and crop rounding, padding,
the PIL mode conversions, and ToTensor + Normalize. Numpy frames are read in place (any strides), the
GIL is released while the core works, and batches are spread over a persistent thread pool.

Example:
    >>> import numpy as np
    >>> from pinclip_sdk import PreprocessSpec
    >>> from pinclip_sdk.preprocess import Preprocessor
    >>> pre = Preprocessor(PreprocessSpec(size=32))
    >>> pre(np.zeros((48, 64, 3), np.uint8)).shape
    (3, 32, 32)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from pinclip_sdk import _core
from pinclip_sdk.errors import BackendUnavailableError, ConfigError, InvalidImageError
from pinclip_sdk.imageio import DEFAULT_MAX_PIXELS, check_pixels, describe_source, load_image, regular_file
from pinclip_sdk.jpeg_region import (
    decode_jpeg_regions,
    header_ineligibility,
    read_jpeg_header,
    region_decode_available,
)
from pinclip_sdk.pilmodes import NATIVE_MODES, GeometryPlan, fill_rgb, native_array, pil_transform
from pinclip_sdk.spec import PreprocessSpec
from pinclip_sdk.yuv import YUVFrame, yuv_to_rgb

logger = logging.getLogger(__name__)

__all__ = ["GeometryPlan", "Preprocessor", "RegionCrops", "YUVFrame", "default_num_threads", "load_image"]

CHANNEL_ORDERS = ("rgb", "bgr")
DTYPES = ("float32", "float16")
_Item = tuple[np.ndarray, str, tuple[int, int, int]]


def default_num_threads() -> int:
    """Half the CPUs this process may use, at least 1 and at most 8.

    On a 2-core appliance that is 1: the other core runs inference. Callers that preprocess on a
    dedicated machine pass `num_threads` explicitly.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus // 2))


@dataclass(frozen=True)
class RegionCrops:
    """What `Preprocessor.decode` gives for a JPEG under the crop or tiles view with region decode:
    each output's crop of the stored image (clipped to it), decoded alone, and the image's size."""

    crops: tuple[np.ndarray, ...]
    size: tuple[int, int]  # (width, height) of the whole image

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]


def _read_bytes(source: Any, what: str) -> bytes:
    """The encoded bytes of a path, bytes-like or binary file object (for the region decoder)."""
    if isinstance(source, (str, os.PathLike)):
        path = regular_file(source, what)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise InvalidImageError(f"{what}: cannot read ({exc.strerror or exc})") from exc
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise InvalidImageError(f"{what}: empty input, no image data")
        return bytes(source)
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidImageError(f"{what}: file object returned {type(data).__name__}, not bytes")
        return bytes(data)
    raise InvalidImageError(
        f"{what}: unsupported input type {type(source).__name__}; expected a path, bytes, a binary "
        "file object, a PIL image, a numpy uint8 array or a YUVFrame"
    )


class Preprocessor:
    """Turns images into the model's input tensor, exactly as open_clip's eval transform does.

    Args:
        spec: the preprocessing of the model (size, resize mode, interpolation, mean, std, fill).
        num_threads: threads used by `batch` (and to split one large frame); None picks
            `default_num_threads()`.
        exact: True (default) is bit-identical to open_clip. False uses int16 resample weights when
            both axes shrink at least 2x (about 1.4x faster), measured within one uint8 level.
        dtype: "float32" (default) or "float16" (the float32 result rounded to nearest even).
        draft: opt-in fast JPEG decoding at reduced size (libjpeg DCT scaling) for paths, bytes and
            file objects; not bit-exact, see docs/preprocess.md for the measured error. Resize view
            only: the other views read native pixels.
        exif_transpose: apply the EXIF orientation of decoded files; None (default) takes
            `spec.exif_transpose`, which is False unless training set it (open_clip does not rotate).
        max_pixels: largest accepted image (width * height), for files and arrays alike; None
            removes this limit (Pillow's own decompression-bomb check stays on for files).
        region_decode: for the crop and tiles views, decode only the JPEG regions the view reads
            (`pinclip_sdk.jpeg_region`, bit-identical to a full decode + crop). None (default) uses
            it when the core was built with libjpeg-turbo; other formats, EXIF rotation and
            JPEGs it cannot crop are decoded in full.
    """

    def __init__(
        self,
        spec: PreprocessSpec,
        num_threads: int | None = None,
        *,
        exact: bool = True,
        dtype: str = "float32",
        draft: bool = False,
        exif_transpose: bool | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        region_decode: bool | None = None,
    ) -> None:
        if not isinstance(spec, PreprocessSpec):
            raise ConfigError(f"Preprocessor needs a PreprocessSpec, got {type(spec).__name__}")
        if dtype not in DTYPES:
            raise ConfigError(f"Preprocessor dtype {dtype!r} is not one of {DTYPES}")
        threads = default_num_threads() if num_threads is None else num_threads
        if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= 256:
            raise ConfigError(f"Preprocessor num_threads must be an int in 1..256, got {num_threads!r}")
        if max_pixels is not None and max_pixels < 1:
            raise ConfigError(f"Preprocessor max_pixels must be positive or None, got {max_pixels!r}")
        if draft and spec.view != "resize":
            raise ConfigError(
                f"Preprocessor draft decoding applies to the resize view only, not {spec.view!r}"
            )
        self.spec = spec
        self.exact = bool(exact)
        self.dtype = np.dtype(dtype)
        self.draft = bool(draft)
        self.exif_transpose = spec.exif_transpose if exif_transpose is None else bool(exif_transpose)
        self.max_pixels = max_pixels
        self._engine = _core.Engine(
            spec.size,
            spec.resize_mode,
            spec.interpolation,
            list(spec.mean),
            list(spec.std),
            threads,
            True,
            self.exact,
            spec.view,
            spec.tile_grid,
            spec.patch_size,
        )
        native_crops = spec.view in ("crop", "tiles")
        if region_decode and not native_crops:
            raise ConfigError(
                f"Preprocessor region_decode applies to the crop and tiles views, not {spec.view!r}"
            )
        if region_decode and not region_decode_available():
            raise ConfigError(
                "Preprocessor region_decode needs the core built with libjpeg-turbo (Debian / Ubuntu: "
                "apt-get install libjpeg-dev, then reinstall pinclip-sdk)"
            )
        self.region_decode = native_crops and region_decode is not False and region_decode_available()
        # tiles decoded as regions are single native crops: the crop view of the same size
        self._crop_engine = self._engine if spec.view == "crop" else None
        if self.region_decode and spec.view == "tiles":
            self._crop_engine = _core.Engine(
                spec.size,
                spec.resize_mode,
                spec.interpolation,
                list(spec.mean),
                list(spec.std),
                threads,
                True,
                self.exact,
                "crop",
            )
        # torchvision's CenterCrop (the shortest mode) pads with 0; every other geometry with the fill
        self._pad_value = 0 if spec.view == "resize" and spec.resize_mode == "shortest" else spec.fill_color

    @property
    def tiles_per_image(self) -> int:
        """Rows of the output per image: the tiles of the tiles view, else 1."""
        return self.spec.tiles_per_image

    @property
    def num_threads(self) -> int:
        return self._engine.num_threads

    @property
    def kernels(self) -> str:
        """The resample kernels in use ("avx512vnni", "avx2", "neon" or "scalar"): the fastest this CPU
        runs, capped by the PINCLIP_MAX_SIMD environment variable when set (read at construction)."""
        return self._engine.kernels

    def plan(self, width: int, height: int, tile: int = 0) -> GeometryPlan:
        """Resize size, crop offsets and filter of the view for a `width` x `height` image (tile
        `tile` of the tiles view; the crop and tile views have resize = the image size)."""
        if self.spec.view == "patches":
            raise ConfigError("the patches view has no geometry plan (it picks patches by their content)")
        try:
            return GeometryPlan(*self._engine.plan(width, height, tile))
        except ValueError as exc:
            raise InvalidImageError(f"{width}x{height} image: {exc}") from exc

    def __call__(self, image: Any, *, channel_order: str = "rgb", seed: int | None = None) -> np.ndarray:
        """Preprocesses one image into a `[3, H, W]` array, `[k, 3, H, W]` for the tiles view (see
        `batch` for the accepted inputs)."""
        seeds = None if seed is None else [seed]
        out = self.batch([image], channel_order=channel_order, seeds=seeds)
        return out[0] if self.tiles_per_image == 1 else out

    def batch(
        self,
        images: Sequence[Any],
        out: np.ndarray | None = None,
        *,
        channel_order: str = "rgb",
        seeds: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Preprocesses images into `[N * k, 3, H, W]` (float32, or float16 if configured); k is
        `tiles_per_image` (image i's tiles are rows i*k .. i*k + k - 1).

        Args:
            images: PIL images, numpy uint8 HWC arrays (3 channels in `channel_order`, 4 = RGBA/BGRA,
                2-D or 1 channel = gray; any strides, read in place), `YUVFrame`s, paths, bytes or
                binary file objects, in any mix.
            out: optional C-contiguous destination of shape `[N, 3, H, W]` and this preprocessor's dtype.
            channel_order: "rgb" or "bgr" (OpenCV frames); applies to 3- and 4-channel arrays.
            seeds: per-image shuffle seeds of the patches view (training draws them); None uses
                `spec.view_seed` for every image.

        Raises:
            InvalidImageError / ImageTooLargeError: for the first bad image, naming it.
            ConfigError: a bad `out` buffer or `channel_order`.
        """
        if channel_order not in CHANNEL_ORDERS:
            raise ConfigError(f"channel_order {channel_order!r} is not one of {CHANNEL_ORDERS}")
        if isinstance(images, (np.ndarray, Image.Image, str, bytes)):
            raise ConfigError("batch() takes a sequence of images; use preprocessor(image) for one image")
        items = [self._item(image, i, channel_order) for i, image in enumerate(images)]
        if seeds is not None:
            if len(seeds) != len(items):
                raise ConfigError(f"seeds has {len(seeds)} entries for {len(items)} images")
            if not all(isinstance(v, int) and 0 <= v < 2**64 for v in seeds):
                raise ConfigError("seeds must be ints in 0..2**64-1")
            items = [item + (seed,) for item, seed in zip(items, seeds, strict=True)]
        elif self.spec.view == "patches":
            items = [item + (self.spec.view_seed,) for item in items]
        out = self._output(len(items), out)
        try:
            if any(isinstance(item[0], RegionCrops) for item in items):
                self._run_each(items, out)
            else:
                self._engine.run(items, out)
        except ValueError as exc:
            raise InvalidImageError(str(exc)) from exc
        return out

    def _run_each(self, items: list[Any], out: np.ndarray) -> None:
        """A batch holding region-decoded images: each image into its rows (its crops are already
        cut out, so they go through the crop view, which keeps them as they are, centred if padded)."""
        rows = self.tiles_per_image
        for i, item in enumerate(items):
            target = out[i * rows : (i + 1) * rows]
            if isinstance(item[0], RegionCrops):
                assert self._crop_engine is not None
                self._crop_engine.run([(crop, "rgb", item[2]) for crop in item[0].crops], target)
            else:
                self._engine.run([item], target)

    def decode(self, source: Any) -> Image.Image | RegionCrops:
        """Decodes a path, bytes or file object as this preprocessor needs it: a loaded PIL image,
        or for the crop and tiles views of a JPEG (with `region_decode`) only the crops they read."""
        what = describe_source(source)
        if self.region_decode and not self.exif_transpose:
            data = _read_bytes(source, what)
            regions = self._decode_regions(data, what)
            if regions is not None:
                return regions
            source = data
        return load_image(
            source,
            exif_transpose=self.exif_transpose,
            max_pixels=self.max_pixels,
            draft_target=self._draft_target if self.draft else None,
        )

    def _decode_regions(self, data: bytes, what: str) -> RegionCrops | None:
        """The view's crops of a JPEG, or None to decode it in full (not a JPEG, not croppable,
        or the region decoder refused it: the full decode then reports any real damage)."""
        try:
            header = read_jpeg_header(data)
        except InvalidImageError:
            return None
        if header_ineligibility(header) is not None:  # the header parsed once, above
            return None
        width, height = header.width, header.height
        check_pixels(width, height, self.max_pixels, what)
        if width * height > 2 * (Image.MAX_IMAGE_PIXELS or width * height):
            return None  # the full decode raises Pillow's decompression-bomb error
        height_out, width_out = self.spec.size
        boxes = []
        for tile in range(self.tiles_per_image):
            plan = self.plan(width, height, tile)
            left, top = max(plan.left, 0), max(plan.top, 0)
            boxes.append((left, top, min(plan.left + width_out, width), min(plan.top + height_out, height)))
        try:
            crops = decode_jpeg_regions(data, boxes)
        except (InvalidImageError, BackendUnavailableError) as exc:
            logger.debug("%s: region decode refused (%s); decoding in full", what, exc)
            return None
        return RegionCrops(tuple(crops), (width, height))

    def resize_u8(self, image: Any, *, channel_order: str = "rgb", seed: int | None = None) -> np.ndarray:
        """The uint8 RGB `[H, W, 3]` image before normalisation (`[k, H, W, 3]` for the tiles view),
        for parity debugging."""
        array, layout, fill = self._item(image, 0, channel_order)
        if isinstance(array, RegionCrops):
            assert self._crop_engine is not None
            crops = np.stack([self._crop_engine.resize_u8(crop, "rgb", fill) for crop in array.crops])
            return crops[0] if self.tiles_per_image == 1 else crops
        return self._engine.resize_u8(array, layout, fill, self.spec.view_seed if seed is None else seed)

    # -- input routing -------------------------------------------------------------------------

    def empty_batch(self, n: int) -> np.ndarray:
        """An uninitialised `[n * k, 3, H, W]` array of this preprocessor's dtype for n images, for
        `batch(out=...)`."""
        height, width = self.spec.size
        return np.empty((n * self.tiles_per_image, 3, height, width), self.dtype)

    def _output(self, n: int, out: np.ndarray | None) -> np.ndarray:
        height, width = self.spec.size
        shape = (n * self.tiles_per_image, 3, height, width)
        if out is None:
            return self.empty_batch(n)
        if not isinstance(out, np.ndarray):
            raise ConfigError(f"out must be a numpy array, got {type(out).__name__}")
        if out.dtype != self.dtype:
            raise ConfigError(f"out has dtype {out.dtype}, expected {self.dtype} (this Preprocessor's dtype)")
        if out.shape != shape:
            raise ConfigError(f"out has shape {out.shape}, expected {shape}")
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise ConfigError("out must be C-contiguous and writeable (e.g. np.empty(shape, dtype))")
        return out

    def _item(self, image: Any, index: int, channel_order: str) -> _Item:
        what = f"image {index} ({describe_source(image)})" if not isinstance(image, np.ndarray) else None
        if isinstance(image, np.ndarray):
            return self._array_item(image, index, channel_order)
        if isinstance(image, YUVFrame):
            rgb = yuv_to_rgb(image, what=f"image {index} (YUVFrame)")
            return self._array_item(rgb, index, "rgb")
        if isinstance(image, RegionCrops):
            return image, "rgb", (self._pad_value,) * 3
        if not isinstance(image, Image.Image):
            image = self.decode(image)
            if isinstance(image, RegionCrops):
                return image, "rgb", (self._pad_value,) * 3
        else:
            check_pixels(image.width, image.height, self.max_pixels, what or "image")
        return self._pil_item(image, what or "image")

    def _draft_target(self, width: int, height: int) -> tuple[int, int]:
        plan = self.plan(width, height)
        return (plan.resize_w, plan.resize_h)

    def _pil_item(self, image: Image.Image, what: str) -> _Item:
        if image.width < 1 or image.height < 1:
            raise InvalidImageError(f"{what}: image has zero size {image.width}x{image.height}")
        if image.mode in NATIVE_MODES:
            array, layout = native_array(image)
            if self.spec.view != "resize":  # padding is added after convert("RGB")
                return array, layout, (self._pad_value,) * 3
            return array, layout, fill_rgb(image.mode, self._pad_value)
        if (
            self.spec.view != "resize"
        ):  # native views never resample: convert("RGB") is the same before the crop
            try:
                rgb = image.convert("RGB")
            except (OSError, ValueError) as exc:
                raise InvalidImageError(f"{what}: Pillow cannot convert mode {image.mode}: {exc}") from exc
            return np.asarray(rgb), "rgb", (self._pad_value,) * 3
        plan = self.plan(image.width, image.height)
        fill = self._pad_value if plan.fill == "color" else 0
        try:
            rgb = pil_transform(image, plan, self.spec.size, fill)
        except (OSError, ValueError) as exc:
            raise InvalidImageError(f"{what}: Pillow cannot convert mode {image.mode}: {exc}") from exc
        return np.asarray(rgb), "rgb", (0, 0, 0)

    def _array_item(self, array: np.ndarray, index: int, channel_order: str) -> _Item:
        what = f"image {index} (numpy array {array.shape} {array.dtype})"
        if array.dtype != np.uint8:
            raise InvalidImageError(f"{what}: dtype must be uint8; convert explicitly (values 0-255)")
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        if array.ndim == 2:
            layout = "gray"
        elif array.ndim == 3 and array.shape[2] in (3, 4):
            layout = channel_order if array.shape[2] == 3 else channel_order + "a"
        else:
            raise InvalidImageError(
                f"{what}: expected HxW (gray) or HxWxC with C in 1, 3, 4 (RGB/BGR, RGBA/BGRA)"
            )
        if array.shape[0] == 0 or array.shape[1] == 0:
            raise InvalidImageError(f"{what}: image is empty")
        check_pixels(array.shape[1], array.shape[0], self.max_pixels, what)
        value = self._pad_value
        return array, layout, (value, value, value)
