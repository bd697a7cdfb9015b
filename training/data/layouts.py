"""Readers for the folder layouts: GenImage, AIGIBench, ForenSynths, Chameleon, `real/` + `fake/`.

Every folder layout is a tree of *pair folders*, each holding one folder of reals and one of fakes
(`nature`/`ai`, `0_real`/`1_fake` or `real`/`fake`). One walk finds them; each layout then reads the
split and the generator from the folder names between the dataset root and the pair folder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pinclip_sdk.training.data import names
from pinclip_sdk.training.data.sample import FAKE, REAL, SPLIT_NAMES, Sample, walk_images

logger = logging.getLogger(__name__)

# kind -> (folder of reals, folder of fakes); names compare case-insensitively.
PAIR_KINDS: dict[str, tuple[str, str]] = {
    "genimage": ("nature", "ai"),
    "binary": ("0_real", "1_fake"),
    "folders": ("real", "fake"),
}
MAX_DEPTH = 4  # GenImage's <wrapper>/<Gen>/<subset>/<split> is the deepest known tree


@dataclass(frozen=True)
class PairDir:
    """A folder holding a real and/or a fake class folder."""

    path: Path
    rel: tuple[str, ...]
    real: Path | None
    fake: Path | None


def _subdirs(directory: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(directory) as entries:
            dirs = [e for e in entries if not e.name.startswith(".") and e.is_dir()]
    except OSError as exc:
        logger.warning("cannot list %s: %s", directory, exc)
        return []
    return sorted(dirs, key=lambda e: e.name)


def find_pair_dirs(root: Path, max_depth: int = MAX_DEPTH) -> dict[str, list[PairDir]]:
    """Pair folders of every kind under `root` (itself included), at most `max_depth` levels down.

    A pair folder's class folders are not searched further, so a walk never lists image folders
    other than the ones it is about to read.
    """
    found: dict[str, list[PairDir]] = {kind: [] for kind in PAIR_KINDS}
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    while stack:
        directory, rel = stack.pop()
        children = {e.name.lower(): Path(e.path) for e in _subdirs(directory)}
        matched = False
        for kind, (real_name, fake_name) in PAIR_KINDS.items():
            real, fake = children.get(real_name), children.get(fake_name)
            if real is not None or fake is not None:
                found[kind].append(PairDir(directory, rel, real, fake))
                matched = True
        if matched or len(rel) >= max_depth:
            continue
        for _, child in sorted(children.items(), reverse=True):
            stack.append((child, (*rel, child.name)))
    for pairs in found.values():
        pairs.sort(key=lambda p: p.rel)
    return found


# An interpreter turns (root, pair folder, image path relative to its class folder: folders + file name)
# into (split, generator).
Interpreter = Callable[[Path, PairDir, tuple[str, ...]], tuple[str | None, str]]


def _genimage(root: Path, pair: PairDir, _inner: tuple[str, ...]) -> tuple[str | None, str]:
    # Read from the right: [<gen dir>/]<subset>/<split>; names above the root fill short paths,
    # so pointing at `.../imagenet_ai_0419_sdv4` or at `.../imagenet_ai_0419_sdv4/val` works too.
    parts = [root.parent.parent.name, root.parent.name, root.name, *pair.rel]
    split = parts.pop() if parts[-1].lower() in SPLIT_NAMES else None
    subset = parts[-1]
    gen_dir = parts[-2] if len(parts) > 1 else None
    return (split.lower() if split else None), names.genimage_generator(subset, gen_dir)


def _split_and_rest(root: Path, pair: PairDir, splits: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """`(split, names below it)` for `[<split>/]<name>/...` trees; missing levels come from the root."""
    rel = list(pair.rel)
    if not rel:
        if root.name.lower() in splits:
            return root.name.lower(), [root.parent.name]
        return None, [root.name]
    if rel[0].lower() in splits:
        split = rel.pop(0).lower()
        return split, rel or [root.name]
    # pointing at a split folder itself (`AIGIBench/test`) keeps that split
    return (root.name.lower() if root.name.lower() in splits else None), rel


def _forensynths(root: Path, pair: PairDir, _inner: tuple[str, ...]) -> tuple[str | None, str]:
    # `{train,val}/<lsun class>` is ProGAN; `test/<gen>[/<class>]` names the generator first.
    split, rest = _split_and_rest(root, pair, SPLIT_NAMES)
    generator = rest[0]
    return split, ("progan" if generator.lower() in names.LSUN_CLASSES else generator)


def _aigibench(root: Path, pair: PairDir, _inner: tuple[str, ...]) -> tuple[str | None, str]:
    split, rest = _split_and_rest(root, pair, SPLIT_NAMES + names.AIGIBENCH_ROBUSTNESS_ROOTS)
    generator = rest[0]
    return split, ("ProGAN" if generator.lower() in names.LSUN_CLASSES else generator)


def _chameleon(root: Path, pair: PairDir, _inner: tuple[str, ...]) -> tuple[str | None, str]:
    split, _ = _split_and_rest(root, pair, SPLIT_NAMES)
    return split, "Chameleon"


def _folders(root: Path, pair: PairDir, inner: tuple[str, ...]) -> tuple[str | None, str]:
    # `[<split>/][<group>/]{real,fake}/[<generator>/]image`: a sub-folder of `fake/` names the generator.
    split, rest = _split_and_rest(root, pair, SPLIT_NAMES)
    return split, (inner[0] if len(inner) > 1 else rest[0])


@dataclass(frozen=True)
class FolderLayout:
    """A folder layout: which pair folders it reads, how it names things, and its help line."""

    name: str
    kind: str
    interpret: Interpreter
    tree: str


FOLDER_LAYOUTS: dict[str, FolderLayout] = {
    "genimage": FolderLayout(
        "genimage",
        "genimage",
        _genimage,
        "[<Gen>/]<subset>/{train,val}/{ai,nature} (e.g. imagenet_ai_0419_sdv4)",
    ),
    "aigibench": FolderLayout(
        "aigibench",
        "binary",
        _aigibench,
        "{train,val}/<cls>/, test/<subset>/, {jpeg,noise,sample}/<subset>/ each with {0_real,1_fake}",
    ),
    "forensynths": FolderLayout(
        "forensynths", "binary", _forensynths, "[{train,val,test}/]<gen or cls>/[<cls>/]{0_real,1_fake}"
    ),
    "chameleon": FolderLayout("chameleon", "binary", _chameleon, "test/{0_real,1_fake}"),
    "folders": FolderLayout("folders", "folders", _folders, "[<split>/]{real,fake}/[<generator>/]images"),
}


def read_pairs(root: Path, pairs: list[PairDir], layout: FolderLayout) -> tuple[list[Sample], int]:
    """Samples of every image in the pairs' class folders, and the number of non-image files skipped.

    Names are interpreted once per folder, not per image.
    """
    samples: list[Sample] = []
    skipped = 0
    for pair in pairs:
        for label, class_dir in ((REAL, pair.real), (FAKE, pair.fake)):
            if class_dir is None:
                continue
            for dirpath, inner, images, other in walk_images(class_dir):
                skipped += other
                split, generator = layout.interpret(root, pair, (*inner, ""))
                samples.extend(Sample(Path(dirpath, name), label, generator, split) for name in images)
    return samples, skipped


def detect_binary_layout(root: Path, pairs: list[PairDir]) -> str:
    """Tell AIGIBench, Chameleon and ForenSynths apart; all three use `0_real`/`1_fake`."""
    for pair in pairs:
        rel = [p.lower() for p in pair.rel]
        if rel and rel[0] in names.AIGIBENCH_ROBUSTNESS_ROOTS:
            return "aigibench"
        if len(rel) >= 2 and rel[0] in ("train", "val") and rel[1] == names.AIGIBENCH_SD_CLASS:
            return "aigibench"
        subset = rel[1] if len(rel) >= 2 and rel[0] == "test" else (rel[0] if rel else "")
        if names.normalise(subset) in names.AIGIBENCH_ONLY_SUBSETS:
            return "aigibench"
    # Chameleon is one `test/{0_real,1_fake}` pair; only the folder name tells it from a custom set.
    rels = {tuple(p.lower() for p in pair.rel) for pair in pairs}
    if rels == {("test",)} and "chameleon" in root.name.lower():
        return "chameleon"
    if rels == {()} and root.name.lower() == "test" and "chameleon" in root.parent.name.lower():
        return "chameleon"
    return "forensynths"


def aigibench_setting(pairs: list[PairDir]) -> str | None:
    """`"I"` (ProGAN classes only) or `"II"` (plus `sdv1.4`) from the `train/<cls>` folders, if any."""
    classes = {pair.rel[1].lower() for pair in pairs if len(pair.rel) >= 2 and pair.rel[0].lower() == "train"}
    if not classes:
        return None
    return "II" if names.AIGIBENCH_SD_CLASS in classes else "I"
