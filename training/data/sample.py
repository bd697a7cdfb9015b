"""`Sample`: one labelled image of a dataset, and the small helpers every layout reader shares."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pinclip_sdk.errors import DatasetError
from pinclip_sdk.imageio import is_image_file

REAL = 0
FAKE = 1
LABEL_NAMES = {REAL: "real", FAKE: "fake"}

# The proxy benchmark's shortcut split: the val fakes again, carrying the cue the train fakes carry.
CUE_SPLIT = "val_cue"
# Folder names that mean a data split wherever a layout allows one (the cue split among them, so its
# images are never mistaken for images of no split).
SPLIT_NAMES = ("train", "val", "test", CUE_SPLIT)


@dataclass(frozen=True, order=True)
class Sample:
    """One image of a dataset.

    Args:
        path: the image file.
        label: 0 = real, 1 = fake.
        generator: the generator (subset) the image belongs to; reals carry the name of the subset
            they were collected for, or a name no fake carries when they are shared by all generators.
        split: `train`, `val`, `test`, a robustness root (`jpeg`, `noise`, `sample`), or `None` when the
            layout has no split.
    """

    path: Path
    label: int
    generator: str
    split: str | None = None


def walk_images(directory: Path) -> Iterator[tuple[str, tuple[str, ...], list[str], int]]:
    """Per folder under `directory` (itself included): its path, its parts relative to `directory`,
    its image file names (sorted) and how many other files it holds.

    Hidden files and folders (`.DS_Store`, `.ipynb_checkpoints`) are ignored and not counted;
    symlinked folders are followed (datasets are often assembled from links). Works on strings:
    this runs once per file of datasets with millions of images.
    """
    top = str(directory)
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        names = [n for n in filenames if not n.startswith(".")]
        images = sorted(n for n in names if is_image_file(n))
        inner = () if dirpath == top else tuple(os.path.relpath(dirpath, top).split(os.sep))  # noqa: PTH206
        yield dirpath, inner, images, len(names) - len(images)


def list_images(directory: Path) -> tuple[list[Path], int]:
    """All image files under `directory` (recursive, sorted) and the number of other files skipped."""
    images: list[str] = []
    skipped = 0
    for dirpath, _, names, other in walk_images(directory):
        images.extend(os.path.join(dirpath, n) for n in names)  # noqa: PTH118
        skipped += other
    return [Path(p) for p in sorted(images)], skipped


def parse_label(value: object, where: str) -> int:
    """Read a label written as 0/1, `real`/`fake` (any case) or a bool; `where` names it in errors."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (REAL, FAKE):
        return value
    if isinstance(value, float) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        names = {"0": REAL, "1": FAKE, "real": REAL, "fake": FAKE, "0_real": REAL, "1_fake": FAKE}
        if text in names:
            return names[text]
    raise DatasetError(f"{where}: label {value!r} is not one of 0, 1, 'real', 'fake'")


def stratified_subset(samples: Sequence[Sample], limit: int, seed: int = 0) -> list[Sample]:
    """`limit` samples drawn round-robin over (generator, label) groups in seeded random order.

    Every group is represented whenever `limit` allows, small groups are used up first, and the
    result is sorted by path; the same seed gives the same subset.
    """
    if len(samples) <= limit:
        return list(samples)
    groups: dict[tuple[str, int], list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[(sample.generator, sample.label)].append(sample)
    rng = np.random.default_rng(seed)
    orders = {key: rng.permutation(len(groups[key])) for key in sorted(groups)}
    chosen: list[Sample] = []
    depth = 0
    while len(chosen) < limit:
        for key, order in orders.items():
            if depth < len(order) and len(chosen) < limit:
                chosen.append(groups[key][order[depth]])
        depth += 1
    return sorted(chosen, key=lambda s: str(s.path))
