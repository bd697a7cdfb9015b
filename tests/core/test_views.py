"""The native views (crop, tiles, patches) equal their Python references bit for bit.

The references below are written from the views' definitions (docs/views.md): numpy slicing and
padding for the crops, and the patch-selection mosaic with numpy's FFT. The core must give the same
uint8 pixels and, after normalisation, the same float32 tensor as ToTensor + Normalize.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pinclip_sdk import _core
from pinclip_sdk.errors import ConfigError
from pinclip_sdk.preprocess import Preprocessor
from pinclip_sdk.spec import PreprocessSpec

MASK64 = (1 << 64) - 1


# -- references ----------------------------------------------------------------------------------


def tile_offset(size: int, crop: int, index: int, count: int) -> int:
    if crop > size:
        return -((crop - size) // 2)
    if count == 1:
        return int(round((size - crop) / 2.0))
    return index * (size - crop) // (count - 1)


def native_crop(rgb: np.ndarray, top: int, left: int, out_h: int, out_w: int, fill: int) -> np.ndarray:
    """rgb[top:top+out_h, left:left+out_w], with `fill` where the window leaves the image."""
    out = np.full((out_h, out_w, 3), fill, np.uint8)
    height, width = rgb.shape[:2]
    y0, y1 = max(top, 0), min(top + out_h, height)
    x0, x1 = max(left, 0), min(left + out_w, width)
    if y0 < y1 and x0 < x1:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = rgb[y0:y1, x0:x1]
    return out


def reference_tiles(rgb: np.ndarray, size: tuple[int, int], grid: tuple[int, int], fill: int) -> np.ndarray:
    out_h, out_w = size
    height, width = rgb.shape[:2]
    rows, cols = grid
    tiles = [
        native_crop(
            rgb, tile_offset(height, out_h, r, rows), tile_offset(width, out_w, c, cols), out_h, out_w, fill
        )
        for r in range(rows)
        for c in range(cols)
    ]
    return np.stack(tiles)


def spectral_entropy(patch: np.ndarray) -> float:
    """The group's measure: entropy of the normalised power spectrum of the grayscale patch."""
    rgb = patch.astype(np.float64)
    gray = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    if gray.max() > 1:
        gray = gray / 255.0
    power = np.abs(np.fft.fftshift(np.fft.fft2(gray))) ** 2
    p = power.flatten() / (np.sum(power) + 1e-12)
    return float(-np.sum(p * np.log2(p + 1e-12)))


def entropy_keys(rgb: np.ndarray, patch: int) -> list[int]:
    height, width = rgb.shape[0] // patch * patch, rgb.shape[1] // patch * patch
    return [
        int(np.rint(spectral_entropy(rgb[y : y + patch, x : x + patch]) * 1e9))
        for y in range(0, height, patch)
        for x in range(0, width, patch)
    ]


def splitmix64(seed: int):
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def mosaic_cells(keys: list[int], cells: int, seed: int) -> list[int]:
    order = sorted(range(len(keys)), key=lambda i: keys[i])  # stable: ties keep patch order
    low, high = cells // 2, cells - cells // 2
    chosen = order[:low] + order[len(order) - min(high, len(order)) :]
    rng = splitmix64(seed)
    for i in range(len(chosen) - 1, 0, -1):
        j = next(rng) % (i + 1)
        chosen[i], chosen[j] = chosen[j], chosen[i]
    return chosen + [-1] * (cells - len(chosen))


def reference_patches(rgb: np.ndarray, size: tuple[int, int], patch: int, seed: int, fill: int) -> np.ndarray:
    out_h, out_w = size
    grid_cols = out_w // patch
    src_cols = rgb.shape[1] // patch
    cells = mosaic_cells(entropy_keys(rgb, patch), (out_h // patch) * grid_cols, seed)
    out = np.full((out_h, out_w, 3), fill, np.uint8)
    for cell, source in enumerate(cells):
        if source < 0:
            continue
        oy, ox = cell // grid_cols * patch, cell % grid_cols * patch
        sy, sx = source // src_cols * patch, source % src_cols * patch
        out[oy : oy + patch, ox : ox + patch] = rgb[sy : sy + patch, sx : sx + patch]
    return out


def normalise(u8: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """ToTensor + Normalize in float32, as torchvision computes it."""
    tf = pytest.importorskip("torchvision.transforms.functional")
    torch = pytest.importorskip("torch")
    tensor = torch.from_numpy(np.ascontiguousarray(u8)).permute(2, 0, 1).float().div(255)
    return tf.normalize(tensor, list(spec.mean), list(spec.std)).numpy()


def textured(height: int, width: int, seed: int) -> np.ndarray:
    """Noise with smooth and flat regions, so entropies spread and some patches tie."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image[: height // 3] = rng.integers(0, 256, 3, dtype=np.uint8)  # a flat band: tied entropies
    ramp = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    image[height // 3 : height // 2] = ramp.astype(np.uint8)
    return image


# -- crop and tiles ------------------------------------------------------------------------------


SIZES = [(1, 1), (5, 300), (31, 17), (64, 64), (65, 120), (200, 33), (97, 251)]


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("out", [(32, 32), (48, 40)])
def test_crop_equals_reference(height, width, out):
    spec = PreprocessSpec(size=out, view="crop", fill_color=77)
    image = textured(height, width, height * 7 + width)
    pre = Preprocessor(spec, num_threads=1)
    expected = native_crop(
        image, tile_offset(height, out[0], 0, 1), tile_offset(width, out[1], 0, 1), out[0], out[1], 77
    )
    np.testing.assert_array_equal(pre.resize_u8(image), expected)
    np.testing.assert_array_equal(pre(image), normalise(expected, spec))


@pytest.mark.parametrize(("height", "width"), [(40, 50), (300, 200), (256, 256), (20, 500)])
def test_crop_offsets_are_torchvision_center_crops(height, width):
    """With fill 0 the crop is torchvision's CenterCrop on the PIL image, padding included."""
    transforms = pytest.importorskip("torchvision.transforms")
    image = textured(height, width, 3)
    expected = np.asarray(transforms.CenterCrop((64, 96))(Image.fromarray(image)))
    pre = Preprocessor(PreprocessSpec(size=(64, 96), view="crop"), num_threads=1)
    np.testing.assert_array_equal(pre.resize_u8(image), expected)


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("grid", [(1, 1), (2, 2), (1, 3), (3, 2)])
def test_tiles_equal_reference(height, width, grid):
    spec = PreprocessSpec(size=(24, 32), view="tiles", tile_grid=grid, fill_color=5)
    image = textured(height, width, height + width)
    pre = Preprocessor(spec, num_threads=2)
    expected = reference_tiles(image, spec.size, grid, 5)
    got = pre.resize_u8(image)
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)
    batch = pre.batch([image, image[::-1]])
    assert batch.shape == (2 * grid[0] * grid[1], 3, 24, 32)
    flipped = reference_tiles(np.ascontiguousarray(image[::-1]), spec.size, grid, 5)
    np.testing.assert_array_equal(batch, np.stack([normalise(t, spec) for t in [*expected, *flipped]]))


def test_tile_offsets_span_the_image():
    plan = Preprocessor(PreprocessSpec(size=100, view="tiles", tile_grid=(2, 3))).plan
    offsets = [(plan(1000, 500, t).left, plan(1000, 500, t).top) for t in range(6)]
    assert offsets == [(0, 0), (450, 0), (900, 0), (0, 400), (450, 400), (900, 400)]


@pytest.mark.parametrize("view", ["crop", "tiles", "patches"])
def test_native_views_read_strided_and_other_layouts(view):
    """BGR, strided, gray, RGBA (alpha dropped), CMYK and non-native PIL modes: convert("RGB") first."""
    spec = (
        PreprocessSpec(size=32, view=view, patch_size=8)
        if view == "patches"
        else PreprocessSpec(size=32, view=view)
    )
    pre = Preprocessor(spec, num_threads=1)
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    want = pre.resize_u8(rgb)
    np.testing.assert_array_equal(
        pre.resize_u8(np.ascontiguousarray(rgb[..., ::-1]), channel_order="bgr"), want
    )
    wide = np.zeros((70, 180, 3), np.uint8)
    wide[:, ::2] = rgb
    np.testing.assert_array_equal(pre.resize_u8(wide[:, ::2]), want)
    rgba = np.dstack([rgb, rng.integers(0, 256, (70, 90), dtype=np.uint8)])
    np.testing.assert_array_equal(pre.resize_u8(Image.fromarray(rgba, "RGBA")), want)
    gray = rgb[..., 0]
    np.testing.assert_array_equal(pre.resize_u8(gray), pre.resize_u8(np.dstack([gray] * 3)))
    for mode in ("CMYK", "P", "I;16", "YCbCr"):
        pil = Image.fromarray(rgb).convert(mode)
        np.testing.assert_array_equal(pre.resize_u8(pil), pre.resize_u8(np.asarray(pil.convert("RGB"))))


# -- patches -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width"), [(1, 1), (7, 300), (64, 64), (96, 80), (130, 77), (250, 190)])
@pytest.mark.parametrize("patch", [8, 16])
def test_patch_entropy_keys_equal_reference(height, width, patch):
    image = textured(height, width, height * width)
    assert _core.patch_entropy_keys(image, "rgb", patch) == entropy_keys(image, patch)


def test_entropy_ties_are_exact():
    """Flat, mirrored and transposed patches have equal spectra: their keys tie exactly."""
    rng = np.random.default_rng(0)
    patch = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    flat = np.full((16, 16, 3), 9, np.uint8)
    image = np.concatenate([patch, patch[:, ::-1], patch.transpose(1, 0, 2), flat, flat], axis=1)
    keys = _core.patch_entropy_keys(np.ascontiguousarray(image), "rgb", 16)
    assert keys[0] == keys[1] == keys[2]
    assert keys[3] == keys[4]


def test_mosaic_cells_equal_reference():
    rng = np.random.default_rng(2)
    for trial in range(200):
        n = int(rng.integers(0, 80))
        keys = [int(k) for k in rng.integers(0, 6, n)]  # many ties
        cells = int(rng.integers(1, 65))
        seed = int(rng.integers(0, 2**63))
        assert _core.mosaic_cells(keys, cells, seed) == mosaic_cells(keys, cells, seed), trial


@pytest.mark.parametrize(("height", "width"), [(5, 5), (20, 300), (64, 64), (100, 60), (255, 257)])
@pytest.mark.parametrize(("size", "patch"), [((64, 64), 16), ((32, 48), 8)])
@pytest.mark.parametrize("seed", [0, 123456789, 2**63 - 1])
def test_patches_equal_reference(height, width, size, patch, seed):
    spec = PreprocessSpec(size=size, view="patches", patch_size=patch, view_seed=seed, fill_color=3)
    image = textured(height, width, seed % 1000 + height)
    pre = Preprocessor(spec, num_threads=2)
    expected = reference_patches(image, size, patch, seed, 3)
    np.testing.assert_array_equal(pre.resize_u8(image), expected)
    np.testing.assert_array_equal(pre(image), normalise(expected, spec))


def test_patches_group_defaults_on_a_photo_sized_image():
    """32 px patches into 224 px: 24 lowest- and 25 highest-entropy patches, each used once."""
    image = textured(480, 640, 11)
    spec = PreprocessSpec(size=224, view="patches", patch_size=32)
    got = Preprocessor(spec, num_threads=1).resize_u8(image)
    np.testing.assert_array_equal(got, reference_patches(image, (224, 224), 32, 0, 0))
    cells = mosaic_cells(entropy_keys(image, 32), 49, 0)
    assert len(set(cells)) == 49
    assert -1 not in cells


def test_patches_seeds_per_image():
    """Training draws a seed per sample; the default is the spec's seed, so evaluation repeats."""
    image = textured(128, 128, 5)
    pre = Preprocessor(PreprocessSpec(size=64, view="patches", patch_size=16, view_seed=7), num_threads=1)
    batch = pre.batch([image, image, image], seeds=[7, 8, 7])
    np.testing.assert_array_equal(batch[0], pre(image))
    np.testing.assert_array_equal(batch[0], batch[2])
    assert not np.array_equal(batch[0], batch[1])
    with pytest.raises(ConfigError, match="seeds"):
        pre.batch([image], seeds=[1, 2])


# -- the spec ------------------------------------------------------------------------------------


def test_view_spec_round_trips_and_rejects_misuse():
    for spec in (
        PreprocessSpec(),
        PreprocessSpec(view="crop"),
        PreprocessSpec(view="tiles", tile_grid=(3, 1), tile_reduce="max"),
        PreprocessSpec(view="patches", view_seed=5),
    ):
        assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    assert "view" not in PreprocessSpec().to_dict()  # resize bundles are written as before views
    assert "tile_grid" not in PreprocessSpec(view="crop").to_dict()
    assert PreprocessSpec(view="tiles", tile_grid=(2, 3)).tiles_per_image == 6
    for bad, match in (
        ({"view": "zoom"}, "view"),
        ({"view": "tiles", "tile_grid": (0, 2)}, "tile_grid"),
        ({"view": "tiles", "tile_grid": (9, 1)}, "tile_grid"),
        ({"view": "tiles", "tile_reduce": "median"}, "tile_reduce"),
        ({"view": "patches", "patch_size": 24}, "patch_size"),
        ({"view": "patches", "size": 200, "patch_size": 32}, "divide"),
        ({"view": "crop", "patch_size": 16}, "patches"),
        ({"view": "patches", "view_seed": -1}, "view_seed"),
    ):
        with pytest.raises(ConfigError, match=match):
            PreprocessSpec(**bad)
    with pytest.raises(ConfigError, match="draft"):
        Preprocessor(PreprocessSpec(view="crop"), draft=True)
