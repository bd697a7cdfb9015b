"""`discover`: find the images of a dataset, whatever its layout, or explain why not."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pinclip_sdk.errors import DatasetError
from pinclip_sdk.imageio import is_image_file
from pinclip_sdk.training.data import layouts
from pinclip_sdk.training.data.image_list import IMAGE_LIST_SUFFIXES, read_image_list
from pinclip_sdk.training.data.sample import LABEL_NAMES, REAL, Sample, list_images

logger = logging.getLogger(__name__)

LAYOUT_HELP: dict[str, str] = {
    **{name: layout.tree for name, layout in layouts.FOLDER_LAYOUTS.items()},
    "image-list": "a .csv (header path,label[,generator,split]) or .jsonl image list",
    "reals": "any folder of images, all read as reals (explicit only; for threshold calibration)",
}
# earlier names of layouts, still accepted (`manifest` now means only a bundle's manifest.json)
LAYOUT_ALIASES: dict[str, str] = {"manifest": "image-list"}
LAYOUTS = ("auto", *LAYOUT_HELP, *LAYOUT_ALIASES)


@dataclass
class Discovery:
    """What `scan` found: the samples plus what a report about them needs."""

    root: Path
    layout: str
    samples: list[Sample]
    skipped_files: int = 0
    notes: list[str] = field(default_factory=list)


def _known_layouts() -> str:
    return "; ".join(f"{name}: {tree}" for name, tree in LAYOUT_HELP.items())


def describe_tree(root: Path, limit: int = 12) -> str:
    """A short listing of the first two folder levels, for error messages."""
    if not root.is_dir():
        return f"{root} is not a folder"
    top = layouts._subdirs(root)
    if not top:
        files = [f.name for f in root.iterdir()]
        images = sum(is_image_file(f) for f in files)
        return f"no sub-folders; {len(files)} file(s), {images} image(s) directly in {root}"
    shown = []
    for entry in top[:limit]:
        below = [e.name for e in layouts._subdirs(Path(entry.path))]
        inner = f" ({', '.join(below[:6])}{', ...' if len(below) > 6 else ''})" if below else ""
        shown.append(f"{entry.name}/{inner}")
    more = f", ... ({len(top) - limit} more)" if len(top) > limit else ""
    return "folders seen: " + ", ".join(shown) + more


def _pick_layout(root: Path, pairs: dict[str, list[layouts.PairDir]]) -> str:
    kinds = [kind for kind, found in pairs.items() if found]
    if len(kinds) > 1:
        where = {kind: "/".join(pairs[kind][0].rel) or "." for kind in kinds}
        raise DatasetError(
            f"{root}: mixes layouts ({', '.join(f'{k} at {v}' for k, v in where.items())}); "
            f"pass layout= (--layout) or point at one dataset. Known layouts: {_known_layouts()}"
        )
    if not kinds:
        raise DatasetError(
            f"{root}: unknown dataset layout; no real/fake class folders (nature/ai, 0_real/1_fake, "
            f"real/fake) within {layouts.MAX_DEPTH} levels. {describe_tree(root)}. "
            f"Known layouts: {_known_layouts()}"
        )
    if kinds[0] == "binary":
        return layouts.detect_binary_layout(root, pairs["binary"])
    return kinds[0]


def _read_folder(root: Path, layout: str) -> Discovery:
    if layout == "reals":
        images, skipped = list_images(root)
        return Discovery(root, layout, [Sample(p, REAL, root.name, None) for p in images], skipped)
    pairs = layouts.find_pair_dirs(root)
    chosen = _pick_layout(root, pairs) if layout == "auto" else layout
    spec = layouts.FOLDER_LAYOUTS[chosen]
    if not pairs[spec.kind]:
        real, fake = layouts.PAIR_KINDS[spec.kind]
        raise DatasetError(
            f"{root}: no {real}/ or {fake}/ folders for layout {chosen!r} ({spec.tree}). "
            f"{describe_tree(root)}"
        )
    samples, skipped = layouts.read_pairs(root, pairs[spec.kind], spec)
    found = Discovery(root, chosen, samples, skipped)
    setting = layouts.aigibench_setting(pairs[spec.kind]) if chosen == "aigibench" else None
    if setting:
        found.notes.append(
            f"AIGIBench training setting {setting} ({'ProGAN + SDv1.4' if setting == 'II' else 'ProGAN'})"
        )
    return found


def _filter_split(found: Discovery, split: str) -> None:
    splits = Counter(s.split for s in found.samples)
    if set(splits) == {None}:
        note = (
            f"{found.root} has no split folders: all {len(found.samples)} images are used for split {split!r}"
        )
        logger.warning(note)
        found.notes.append(note)
        return
    found.samples = [s for s in found.samples if s.split == split]
    if not found.samples:
        have = ", ".join(f"{k} ({v})" for k, v in sorted(splits.items(), key=lambda kv: str(kv[0])))
        raise DatasetError(f"{found.root}: no images in split {split!r}; splits found: {have}")


def scan(
    path: str | os.PathLike,
    layout: str = "auto",
    split: str | None = None,
    *,
    allow_single_class: bool = False,
) -> Discovery:
    """Find the dataset's samples and keep what a report needs (layout, skipped files, notes).

    See `discover` for the arguments.
    """
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; known: {', '.join(('auto', *LAYOUT_HELP))}")
    layout = LAYOUT_ALIASES.get(layout, layout)
    root = Path(path).expanduser().resolve()
    if not root.exists():
        raise DatasetError(f"dataset path {root} does not exist")
    if root.is_file():
        if layout not in ("auto", "image-list") or root.suffix.lower() not in IMAGE_LIST_SUFFIXES:
            raise DatasetError(
                f"{root} is a file; expected a dataset folder or a {'/'.join(IMAGE_LIST_SUFFIXES)} image list"
            )
        found = Discovery(root, "image-list", read_image_list(root))
    elif layout == "image-list":
        raise DatasetError(f"{root} is a folder; layout 'image-list' needs a .csv or .jsonl file")
    else:
        found = _read_folder(root, layout)
    if not found.samples:
        raise DatasetError(f"{root}: no images found (layout {found.layout}). {describe_tree(root)}")
    if split is not None:
        _filter_split(found, split.lower())
    labels = Counter(s.label for s in found.samples)
    if len(labels) == 1 and not allow_single_class:
        ((label, count),) = labels.items()
        where = f" in split {split!r}" if split else ""
        raise DatasetError(
            f"{root}: only {LABEL_NAMES[label]} images ({count}){where}, layout {found.layout}; a detector "
            f"needs both real and fake images. {describe_tree(root)}"
        )
    found.samples.sort(key=lambda s: (os.fspath(s.path), s.label))
    logger.info(
        "%s: layout %s, %d images (%s)",
        root,
        found.layout,
        len(found.samples),
        ", ".join(f"{LABEL_NAMES[k]} {v}" for k, v in sorted(labels.items())),
    )
    return found


def discover(
    path: str | os.PathLike,
    layout: str = "auto",
    split: str | None = None,
    *,
    allow_single_class: bool = False,
) -> list[Sample]:
    """The labelled images of a dataset, sorted by path.

    Args:
        path: a dataset folder or a CSV/JSONL image list.
        layout: `auto` (detect) or one of `LAYOUT_HELP`'s names (old names in `LAYOUT_ALIASES` too).
        split: keep only this split (`train`, `val`, `test`, `jpeg`, ...); a layout without split
            folders keeps everything, with a warning.
        allow_single_class: accept a set of reals only (or fakes only), e.g. for threshold calibration.

    Raises:
        DatasetError: the path does not exist, holds no images, one class only, or no known layout;
            the message names the folders it saw and the layouts it knows.
    """
    return scan(path, layout, split, allow_single_class=allow_single_class).samples
