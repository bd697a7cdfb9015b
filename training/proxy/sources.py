"""Source photographs shipped inside installed packages, and random multi-scale crops of them.

The proxy benchmark must build offline, so its real images come from the sample photographs that
scikit-image, scikit-learn and matplotlib install with themselves. Each photo is cut once along its
long axis into a train region (the first 70%) and a val region (the rest), so no pixel is shared
between the splits. Within a split, reals and the source crops of fakes are independent random crops
of the same regions: every scene appears in both classes in equal measure, so content never gives
the answer (an earlier version dealt whole photos to the classes, swapped between splits; the tiny
detector memorised which scenes were real and scored below chance on val), and no fake is made from
a crop that is itself a real image of the set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pinclip_sdk.errors import DatasetError

logger = logging.getLogger(__name__)

TRAIN_FRACTION = 0.7
MIN_CROP_STD = 0.03  # crops flatter than this (sky, black borders) are redrawn, for both classes alike
MIN_SOURCES = 6


@dataclass(frozen=True)
class SourcePhoto:
    """One photograph: where it comes from, its credit and licence, and how to load it."""

    name: str
    package: str
    credit: str
    licence: str
    load: Callable[[], np.ndarray]

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "package": self.package, "credit": self.credit, "licence": self.licence}


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


def _matplotlib(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import matplotlib

        with Image.open(Path(matplotlib.get_data_path()) / "sample_data" / filename) as image:
            return np.asarray(image.convert("RGB"))

    return load


_CC0 = "CC0 1.0"
_PD = "public domain"
SOURCES: tuple[SourcePhoto, ...] = (
    SourcePhoto(
        "astronaut", "scikit-image", "NASA (Eileen Collins), NASA Great Images", _PD, _skimage("astronaut")
    ),
    SourcePhoto(
        "coffee", "scikit-image", "Rachel Michetti, courtesy of Pikolo Espresso Bar", _CC0, _skimage("coffee")
    ),
    SourcePhoto("chelsea", "scikit-image", "Stefan van der Walt", _CC0, _skimage("chelsea")),
    SourcePhoto("rocket", "scikit-image", "SpaceX (DSCOVR launch on Falcon 9)", _PD, _skimage("rocket")),
    SourcePhoto("china", "scikit-learn", "danielbuechele (Flickr)", "CC BY 2.0", _sklearn("china.jpg")),
    SourcePhoto("flower", "scikit-learn", "vultilion (Flickr)", "CC BY 2.0", _sklearn("flower.jpg")),
    SourcePhoto(
        "grace_hopper", "matplotlib", "US Navy portrait of Grace Hopper", _PD, _matplotlib("grace_hopper.jpg")
    ),
    SourcePhoto("hubble_deep_field", "scikit-image", "NASA, HubbleSite", _PD, _skimage("hubble_deep_field")),
    SourcePhoto(
        "immunohistochemistry",
        "scikit-image",
        "Center for Microscopy and Molecular Imaging",
        "no known copyright restrictions",
        _skimage("immunohistochemistry"),
    ),
    SourcePhoto("retina", "scikit-image", "Mikael Häggström (Wikimedia Commons)", _CC0, _skimage("retina")),
    SourcePhoto("camera", "scikit-image", "Lav Varshney", _CC0, _skimage("camera")),
    SourcePhoto(
        "coins",
        "scikit-image",
        "Brooklyn Museum Collection",
        "no known copyright restrictions",
        _skimage("coins"),
    ),
    SourcePhoto("grass", "scikit-image", "linolafett (DeviantArt)", _CC0, _skimage("grass")),
    SourcePhoto("gravel", "scikit-image", "CC0Textures (Gravel04)", _CC0, _skimage("gravel")),
    SourcePhoto(
        "moon",
        "scikit-image",
        "scikit-image sample data (surface of the moon)",
        "scikit-image sample data",
        _skimage("moon"),
    ),
    SourcePhoto("brick", "scikit-image", "CC0Textures (Bricks25)", _CC0, _skimage("brick")),
)


@dataclass(frozen=True)
class Region:
    """A rectangle of one photo's pixels (HWC uint8 RGB) that crops are drawn from."""

    photo: str
    pixels: np.ndarray


@dataclass(frozen=True)
class SourcePool:
    """Photos loaded and split: `regions[split]` lists the regions crops of that split come from."""

    photos: tuple[SourcePhoto, ...]
    regions: dict[str, tuple[Region, ...]]


def _as_rgb(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype != np.uint8:
        raise DatasetError(f"source photo {name!r}: expected uint8 pixels, got {array.dtype}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise DatasetError(f"source photo {name!r}: expected an HxW or HxWx3 image, got shape {array.shape}")
    return np.ascontiguousarray(array[:, :, :3])


def _split_regions(name: str, pixels: np.ndarray) -> dict[str, Region]:
    height, width = pixels.shape[:2]
    if width >= height:
        cut = int(width * TRAIN_FRACTION)
        train, val = pixels[:, :cut], pixels[:, cut:]
    else:
        cut = int(height * TRAIN_FRACTION)
        train, val = pixels[:cut], pixels[cut:]
    return {"train": Region(f"{name}/train", train), "val": Region(f"{name}/val", val)}


def load_sources(min_side: int) -> SourcePool:
    """Load every available source photo and split it into train/val regions.

    Args:
        min_side: smallest usable region side (the image size); smaller regions are left out.

    Raises:
        DatasetError: when fewer than `MIN_SOURCES` photos are available.
    """
    loaded: list[SourcePhoto] = []
    regions: dict[str, list[Region]] = {"train": [], "val": []}
    for photo in SOURCES:
        try:
            pixels = _as_rgb(photo.load(), photo.name)
        except (ImportError, OSError, AttributeError) as exc:
            logger.warning("source photo %s (%s) unavailable, left out: %s", photo.name, photo.package, exc)
            continue
        parts = _split_regions(photo.name, pixels)
        if min(min(part.pixels.shape[:2]) for part in parts.values()) < min_side:
            logger.warning("source photo %s too small for %d-px crops, left out", photo.name, min_side)
            continue
        loaded.append(photo)
        for split, region in parts.items():
            regions[split].append(region)
    if len(loaded) < MIN_SOURCES:
        raise DatasetError(
            f"proxy sources: only {len(loaded)} usable photos found ({[p.name for p in loaded]}); need "
            f"{MIN_SOURCES}. Install scikit-image, scikit-learn and matplotlib (pinclip-sdk[train])"
        )
    return SourcePool(tuple(loaded), {key: tuple(value) for key, value in regions.items()})


def random_crop(region: Region, size: int, max_scale: float, rng: np.random.Generator) -> np.ndarray:
    """One crop of log-uniform side in [size, max_scale*size] at a random place, resized to size x size.

    Downscaling uses Pillow's antialiased bicubic filter. Crops flatter than `MIN_CROP_STD` are redrawn
    (up to 20 times) so neither class fills up with featureless sky or black borders.
    """
    height, width = region.pixels.shape[:2]
    largest = min(height, width, int(max_scale * size))
    crop = region.pixels[:size, :size]
    for _ in range(20):
        side = int(round(np.exp(rng.uniform(np.log(size), np.log(largest))))) if largest > size else size
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        crop = region.pixels[top : top + side, left : left + side]
        if side != size:
            crop = np.asarray(Image.fromarray(crop).resize((size, size), Image.Resampling.BICUBIC))
        if crop.std() / 255.0 >= MIN_CROP_STD:
            break
    return crop


def sample_crops(
    regions: tuple[Region, ...], count: int, size: int, max_scale: float, rng: np.random.Generator
) -> tuple[np.ndarray, list[str]]:
    """`count` crops (uint8 [count, size, size, 3]), each from a region drawn uniformly, and their photos."""
    out = np.empty((count, size, size, 3), dtype=np.uint8)
    photos = []
    for index in range(count):
        region = regions[int(rng.integers(0, len(regions)))]
        out[index] = random_crop(region, size, max_scale, rng)
        photos.append(region.photo)
    return out, photos
