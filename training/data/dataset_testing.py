"""Miniature datasets of generated images, one maker per layout, for tests in every area.

Reals are smooth colour fields saved as JPEG at varied sizes; fakes add a warm tint and a periodic
high-frequency grid (a caricature of up-sampling artefacts) and are saved as fixed-size PNGs. The
two classes are easy to tell apart, so a tiny model learns them in a few steps, and the format/size
difference reproduces GenImage's known shortcut, which `pinclip data inspect` must flag.

Example:
    >>> from pinclip_sdk.training.data.dataset_testing import make_genimage_dataset
    >>> root = make_genimage_dataset(tmp_path, generators=("SDv1.4",), n_per_class=4)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.training.data.names import AIGIBENCH_SD_CLASS, GENIMAGE_PATHS
from pinclip_sdk.training.data.sample import FAKE, REAL


def make_image(rng: np.random.Generator, label: int, size: int | tuple[int, int]) -> Image.Image:
    """One generated RGB image of the given class; `size` is `(width, height)` or a square side."""
    width, height = (size, size) if isinstance(size, int) else size
    coarse = rng.uniform(40, 200, size=(4, 4, 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.float32)
    base += rng.normal(0, 4, size=base.shape)
    if label == FAKE:
        period = int(rng.integers(2, 4))
        yy, xx = np.mgrid[0:height, 0:width]
        grid = np.where(((yy // period) + (xx // period)) % 2 == 0, 35.0, -35.0)
        base += grid[..., None]
        base[..., 0] += 45.0
        base[..., 2] -= 25.0
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def write_class(
    directory: Path, label: int, count: int, size: int, rng: np.random.Generator, prefix: str = ""
) -> None:
    """`count` images of one class in `directory`: reals JPEG of varied size, fakes `size`x`size` PNG."""
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        if label == REAL:
            dims = (int(rng.integers(size, size * 3 // 2 + 1)), int(rng.integers(size, size * 3 // 2 + 1)))
            make_image(rng, label, dims).save(directory / f"{prefix}real_{index:04d}.JPEG", quality=95)
        else:
            make_image(rng, label, size).save(directory / f"{prefix}fake_{index:04d}.png")


def _write_pair(root: Path, real: str, fake: str, n: int, size: int, rng: np.random.Generator) -> None:
    write_class(root / real, REAL, n, size, rng)
    write_class(root / fake, FAKE, n, size, rng)


def make_genimage_dataset(
    root: str | Path,
    generators: Sequence[str] = ("SDv1.4", "Midjourney"),
    n_per_class: int = 4,
    size: int = 32,
    seed: int = 0,
    *,
    splits: Sequence[str] = ("train", "val"),
    flat: bool = False,
) -> Path:
    """A GenImage tree `<Gen>/<subset>/{train,val}/{ai,nature}` with the real on-disk folder names.

    Args:
        root: folder to create the tree in (returned).
        generators: readable names (`SDv1.4`, `SDv1.5`, `Midjourney`, `ADM`, `Wukong`, `GLIDE`, `VQDM`,
            `BigGAN`) or on-disk subset names (`imagenet_ai_0419_sdv4`).
        n_per_class: images per class, per generator and split.
        size: side of the square fakes; reals are `size` to `1.5 * size` per side.
        seed: seeds the image generator (same seed, same bytes).
        splits: split folders to write.
        flat: drop the generator level (`<subset>/{train,val}/...`), as many users store it.
    """
    root = Path(root)
    by_subset = {subset: name for name, (_, subset) in GENIMAGE_PATHS.items()}
    rng = np.random.default_rng(seed)
    for generator in generators:
        if generator in GENIMAGE_PATHS:
            gen_dir, subset = GENIMAGE_PATHS[generator]
        elif generator in by_subset:
            gen_dir, subset = GENIMAGE_PATHS[by_subset[generator]]
        else:
            raise ConfigError(f"unknown GenImage generator {generator!r}; known: {', '.join(GENIMAGE_PATHS)}")
        base = root / subset if flat else root / gen_dir / subset
        for split in splits:
            _write_pair(base / split, "nature", "ai", n_per_class, size, rng)
    return root


def make_aigibench_dataset(
    root: str | Path,
    setting: str = "II",
    test_subsets: Sequence[str] = ("SDXL", "FLUX1-dev"),
    robustness: Sequence[str] = ("jpeg", "noise", "sample"),
    n_per_class: int = 2,
    size: int = 32,
    seed: int = 0,
    *,
    train_classes: Sequence[str] = ("car", "cat"),
) -> Path:
    """An AIGIBench tree: `{train,val}/<cls>/`, `test/<subset>/` and robustness roots, each `{0_real,1_fake}`.

    Setting `II` adds the `sdv1.4` training class to the ProGAN classes; setting `I` is ProGAN only.
    """
    if setting not in ("I", "II"):
        raise ConfigError(f"AIGIBench setting must be 'I' or 'II', got {setting!r}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    classes = [*train_classes, *([AIGIBENCH_SD_CLASS] if setting == "II" else [])]
    for split in ("train", "val"):
        for cls in classes:
            _write_pair(root / split / cls, "0_real", "1_fake", n_per_class, size, rng)
    for top in ("test", *robustness):
        for subset in test_subsets:
            _write_pair(root / top / subset, "0_real", "1_fake", n_per_class, size, rng)
    return root


def make_forensynths_dataset(
    root: str | Path,
    train_classes: Sequence[str] = ("car", "cat"),
    test_generators: Sequence[str] = ("progan", "biggan"),
    class_level: Sequence[str] = ("progan",),
    n_per_class: int = 2,
    size: int = 32,
    seed: int = 0,
) -> Path:
    """A ForenSynths tree: `{train,val}/<cls>/` and `test/<gen>/[<cls>/]`, each with `{0_real,1_fake}`.

    Generators listed in `class_level` get the per-class level in `test/` (as progan and stylegan do).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for cls in train_classes:
            _write_pair(root / split / cls, "0_real", "1_fake", n_per_class, size, rng)
    for generator in test_generators:
        if generator in class_level:
            for cls in train_classes:
                _write_pair(root / "test" / generator / cls, "0_real", "1_fake", n_per_class, size, rng)
        else:
            _write_pair(root / "test" / generator, "0_real", "1_fake", n_per_class, size, rng)
    return root


def make_chameleon_dataset(root: str | Path, n_per_class: int = 2, size: int = 32, seed: int = 0) -> Path:
    """A Chameleon tree `Chameleon/test/{0_real,1_fake}`; returns the `Chameleon` folder."""
    base = Path(root) / "Chameleon"
    _write_pair(base / "test", "0_real", "1_fake", n_per_class, size, np.random.default_rng(seed))
    return base


def make_folder_dataset(
    root: str | Path,
    generators: Sequence[str] = (),
    splits: Sequence[str] = (),
    n_per_class: int = 2,
    size: int = 32,
    seed: int = 0,
) -> Path:
    """Plain `[<split>/]real/` + `fake/[<generator>/]` folders; no generators = fakes directly in `fake/`."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split in splits or [""]:
        base = root / split if split else root
        write_class(base / "real", REAL, n_per_class, size, rng)
        for generator in generators or [""]:
            write_class(
                base / "fake" / generator if generator else base / "fake", FAKE, n_per_class, size, rng
            )
    return root


def make_image_list_dataset(
    root: str | Path,
    fmt: str = "csv",
    generators: Sequence[str] = ("gen_a", "gen_b"),
    splits: Sequence[str] = ("train", "val"),
    n_per_class: int = 2,
    size: int = 32,
    seed: int = 0,
) -> Path:
    """Images under `root/images` and an image list naming them by relative path; returns the list.

    Labels are written in every accepted spelling (0/1/real/fake) so readers are exercised on all.
    """
    if fmt not in ("csv", "jsonl"):
        raise ConfigError(f"image list format must be 'csv' or 'jsonl', got {fmt!r}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    spellings = {REAL: ("real", "0"), FAKE: ("fake", "1")}
    rows = []
    for split in splits:
        for generator in generators:
            for label in (REAL, FAKE):
                directory = root / "images" / split / generator / str(label)
                write_class(directory, label, n_per_class, size, rng)
                for index, image in enumerate(sorted(directory.iterdir())):
                    rows.append(
                        {
                            "path": image.relative_to(root).as_posix(),
                            "label": spellings[label][index % 2],
                            "generator": generator,
                            "split": split,
                        }
                    )
    image_list = root / f"image_list.{fmt}"
    if fmt == "csv":
        with open(image_list, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["path", "label", "generator", "split"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        with open(image_list, "w", encoding="utf-8") as handle:
            for row in rows:
                label = int(row["label"]) if row["label"].isdigit() else row["label"]
                handle.write(json.dumps({**row, "label": label}) + "\n")
    return image_list


def write_corrupt_image(path: str | Path) -> Path:
    """A file with an image suffix whose bytes are not an image (for unreadable-file tests)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return path


# Modes that decode to something other than plain RGB, with the file format that stores each.
ODD_MODE_FILES = (
    ("rgba", "png"),
    ("p", "png"),
    ("p_transparent", "png"),
    ("la", "png"),
    ("cmyk", "jpg"),
    ("i16", "png"),
    ("bilevel", "png"),
    ("exif_rotated", "jpg"),
)


def write_odd_mode_images(
    directory: str | Path, rng: np.random.Generator, label: int, size: int = 40
) -> list[Path]:
    """One file per entry of `ODD_MODE_FILES` (RGBA, palette, palette + transparency, LA, CMYK,
    16-bit grey, 1-bit, EXIF orientation 6), each from a fresh `make_image` of class `label`.

    These are the files where decoding to RGB first and resizing in the file's own mode (open_clip)
    give different pixels, so a second decoder anywhere would show up on them.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, suffix in ODD_MODE_FILES:
        rgb = make_image(rng, label, (size + 8, size))
        path = directory / f"{kind}_{int(rng.integers(1 << 30))}.{suffix}"
        if kind == "rgba":
            alpha = Image.fromarray(rng.integers(0, 256, (size, size + 8), dtype=np.uint8), "L")
            image = rgb.copy()
            image.putalpha(alpha)
            image.save(path)
        elif kind == "p":
            rgb.quantize(colors=64).save(path)
        elif kind == "p_transparent":
            rgb.quantize(colors=64).save(path, transparency=3)
        elif kind == "la":
            grey = rgb.convert("L")
            alpha = Image.fromarray(rng.integers(0, 256, grey.size[::-1], dtype=np.uint8), "L")
            Image.merge("LA", (grey, alpha)).save(path)
        elif kind == "cmyk":
            rgb.convert("CMYK").save(path, quality=95)
        elif kind == "i16":
            wide = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
            Image.fromarray(wide).save(path)  # I;16 PNG
        elif kind == "bilevel":
            rgb.convert("1").save(path)
        else:
            exif = Image.Exif()
            exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
            rgb.save(path, quality=95, exif=exif.tobytes())
        paths.append(path)
    return paths
