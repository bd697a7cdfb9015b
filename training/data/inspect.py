"""Dataset audit: counts, file formats, image sizes, unreadable files and shortcut warnings.

A detector learns whatever separates the classes. When every real is a JPEG and every fake a PNG
(GenImage: ImageNet JPEGs against PNG generations, arXiv 2403.17608 "Fake or JPEG?"), or the fakes
all share one size, it can score well by reading the file format or the size instead of the
content. `inspect_dataset` measures these cues per class and warns before anyone trains on them.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pinclip_sdk.training.data.discover import scan
from pinclip_sdk.training.data.sample import LABEL_NAMES, Sample, stratified_subset

logger = logging.getLogger(__name__)

SHORTCUT_GAP = 0.8  # a cue shared by >= 80 points more of one class than the other is a shortcut
SIZE_RATIO = 2.0  # median pixel counts differing by this factor
JPEG_QUALITY_GAP = 10  # estimated JPEG qualities differing by this much
IMBALANCE = 3.0
_FORMAT_SUFFIXES = {
    "JPEG": {".jpg", ".jpeg", ".jfif"},
    "PNG": {".png"},
    "WEBP": {".webp"},
    "TIFF": {".tif", ".tiff"},
}
# IJG standard luminance table (ITU T.81 Annex K), to estimate the quality a JPEG was saved at.
_IJG_LUMA = np.array(
    [
        16,
        11,
        10,
        16,
        24,
        40,
        51,
        61,
        12,
        12,
        14,
        19,
        26,
        58,
        60,
        55,
        14,
        13,
        16,
        24,
        40,
        57,
        69,
        56,
        14,
        17,
        22,
        29,
        51,
        87,
        80,
        62,
        18,
        22,
        37,
        56,
        68,
        109,
        103,
        77,
        24,
        35,
        55,
        64,
        81,
        104,
        113,
        92,
        49,
        64,
        78,
        87,
        103,
        121,
        120,
        101,
        72,
        92,
        95,
        98,
        112,
        100,
        103,
        99,
    ],
    float,
)


@dataclass
class ImageFacts:
    """What one sampled file is: decoded format, size, mode, JPEG quality estimate, or an error."""

    format: str | None = None
    size: tuple[int, int] | None = None
    mode: str | None = None
    jpeg_quality: float | None = None
    error: str | None = None
    suffix_mismatch: bool = False


def estimate_jpeg_quality(image: Image.Image) -> float | None:
    """The IJG quality (1-100) whose scaled luminance table best matches the file's, or None."""
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    # Quality q scales the base table by s = 5000/q (q < 50) or 200 - 2q (q >= 50), in percent.
    scale = 100.0 * float(np.mean(np.asarray(tables[0], float))) / float(np.mean(_IJG_LUMA))
    quality = 5000.0 / scale if scale > 100 else (200.0 - scale) / 2.0
    return float(np.clip(quality, 1, 100))


def read_facts(path: os.PathLike) -> ImageFacts:
    """Open and fully decode one file (the only way to know it is readable)."""
    facts = ImageFacts()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                facts.format, facts.size, facts.mode = image.format, image.size, image.mode
                facts.jpeg_quality = estimate_jpeg_quality(image) if image.format == "JPEG" else None
                image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        facts.error = f"{type(exc).__name__}: {exc}"
    suffix = Path(path).suffix.lower()
    expected = _FORMAT_SUFFIXES.get(facts.format or "", set())
    facts.suffix_mismatch = facts.format is not None and bool(expected) and suffix not in expected
    return facts


@dataclass
class _ClassStats:
    formats: Counter = field(default_factory=Counter)
    modes: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)
    qualities: list[float] = field(default_factory=list)
    n: int = 0

    def add(self, facts: ImageFacts) -> None:
        if facts.error is not None:
            return
        self.n += 1
        self.formats[facts.format] += 1
        self.modes[facts.mode] += 1
        self.sizes[facts.size] += 1
        if facts.jpeg_quality is not None:
            self.qualities.append(facts.jpeg_quality)

    def size_summary(self) -> dict[str, Any]:
        if not self.sizes:
            return {}
        areas = [w * h for (w, h), c in self.sizes.items() for _ in range(c)]
        ((common, count),) = self.sizes.most_common(1)
        widths = [w for w, _ in self.sizes]
        heights = [h for _, h in self.sizes]
        return {
            "median_pixels": float(np.median(areas)),
            "min": [min(widths), min(heights)],
            "max": [max(widths), max(heights)],
            "most_common": [list(common), count],
            "distinct": len(self.sizes),
        }


def _share(counter: Counter, key: Any, n: int) -> float:
    return counter[key] / n if n else 0.0


def _distribution_gap(real: _ClassStats, fake: _ClassStats, attr: str) -> tuple[Any, float, float] | None:
    """The value of `attr` whose share differs most between the classes, if by >= SHORTCUT_GAP."""
    a, b = getattr(real, attr), getattr(fake, attr)
    gaps = [(key, _share(a, key, real.n), _share(b, key, fake.n)) for key in set(a) | set(b)]
    gaps = [g for g in gaps if abs(g[1] - g[2]) >= SHORTCUT_GAP]
    # deterministic choice: the largest gap, then the value most common among reals
    return min(gaps, key=lambda g: (-abs(g[1] - g[2]), -g[1], str(g[0])), default=None)


def _fmt_dist(counter: Counter, n: int) -> str:
    return ", ".join(f"{k} {100 * v / n:.0f}%" for k, v in counter.most_common(3)) if n else "none"


def shortcut_warnings(real: _ClassStats, fake: _ClassStats, scope: str) -> list[str]:
    """Warnings about cues other than content that separate reals from fakes in `scope`."""
    if not real.n or not fake.n:
        return []
    out = []
    gap = _distribution_gap(real, fake, "formats")
    if gap:
        out.append(
            f"{scope}: file-format shortcut: {100 * gap[1]:.0f}% of reals vs {100 * gap[2]:.0f}% of fakes "
            f"are {gap[0]} (reals: {_fmt_dist(real.formats, real.n)}; "
            f"fakes: {_fmt_dist(fake.formats, fake.n)}). "
            "A detector can learn the format instead of the content (GenImage's known bias); re-encode both "
            "classes alike or train with JPEG augmentation, and evaluate on re-encoded images."
        )
    gap = _distribution_gap(real, fake, "sizes")
    if gap:
        w, h = gap[0]
        out.append(
            f"{scope}: image-size shortcut: {100 * gap[1]:.0f}% of reals vs {100 * gap[2]:.0f}% of fakes "
            f"are exactly {w}x{h}; crop/resize both classes alike."
        )
    gap = _distribution_gap(real, fake, "modes")
    if gap:
        out.append(
            f"{scope}: colour-mode shortcut: {100 * gap[1]:.0f}% of reals vs {100 * gap[2]:.0f}% of fakes "
            f"are mode {gap[0]}; convert both classes alike."
        )
    areas = [c.size_summary()["median_pixels"] for c in (real, fake)]
    if max(areas) >= SIZE_RATIO * min(areas):
        out.append(
            f"{scope}: size distributions differ: median {areas[0]:.0f} pixels for reals vs {areas[1]:.0f} "
            "for fakes; resizing leaves a resolution cue."
        )
    if real.qualities and fake.qualities:
        qr, qf = float(np.median(real.qualities)), float(np.median(fake.qualities))
        if abs(qr - qf) >= JPEG_QUALITY_GAP:
            out.append(
                f"{scope}: JPEG-quality shortcut: median quality {qr:.0f} for reals vs {qf:.0f} for fakes."
            )
    return out


def _counts(samples: list[Sample]) -> list[dict[str, Any]]:
    table: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for s in samples:
        table[(s.split or "", s.generator)][LABEL_NAMES[s.label]] += 1
    return [
        {"split": k[0] or None, "generator": k[1], "real": c["real"], "fake": c["fake"]}
        for k, c in sorted(table.items())
    ]


def _balance_warnings(counts: list[dict[str, Any]]) -> list[str]:
    """Imbalance per generator (where it has both classes) and one-class splits."""
    out = []
    per_split: dict[str | None, Counter] = defaultdict(Counter)
    for row in counts:
        per_split[row["split"]].update({"real": row["real"], "fake": row["fake"]})
        low, high = sorted((row["real"], row["fake"]))
        if low and high >= IMBALANCE * low:
            where = row["generator"] + (f" ({row['split']})" if row["split"] else "")
            out.append(f"{where}: classes imbalanced ({row['real']} real vs {row['fake']} fake)")
    for split, c in per_split.items():
        if not c["real"] or not c["fake"]:
            out.append(f"split {split or '(none)'}: only {'fakes' if not c['real'] else 'reals'}")
    return out


@dataclass
class _Audit:
    """Facts gathered from the decoded files."""

    stats: dict[str, dict[int, _ClassStats]] = field(
        default_factory=lambda: defaultdict(lambda: {0: _ClassStats(), 1: _ClassStats()})
    )
    unreadable: list[dict[str, str]] = field(default_factory=list)
    mismatched: int = 0


def _audit(checked: list[Sample], progress: bool) -> _Audit:
    from tqdm import tqdm

    audit = _Audit()
    for sample in tqdm(
        checked, desc="decoding", unit="file", disable=not progress, file=sys.stderr, leave=False
    ):
        facts = read_facts(sample.path)
        if facts.error is not None:
            audit.unreadable.append({"path": str(sample.path), "error": facts.error})
        audit.mismatched += facts.suffix_mismatch
        audit.stats["all"][sample.label].add(facts)
        audit.stats[sample.generator][sample.label].add(facts)
    return audit


def _all_warnings(audit: _Audit, counts: list[dict[str, Any]], sampled: bool) -> list[str]:
    stats = audit.stats
    out = shortcut_warnings(stats["all"][0], stats["all"][1], "all images")
    generators = sorted(g for g in stats if g != "all")
    if len(generators) > 1:
        for generator in generators:
            named = {w.split(": ", 2)[1] for w in out}
            per = shortcut_warnings(stats[generator][0], stats[generator][1], f"generator {generator}")
            # name a generator only for cues the whole-set check did not already report
            out += [w for w in per if w.split(": ", 2)[1] not in named]
    out += _balance_warnings(counts)
    if audit.unreadable:
        out.append(f"{len(audit.unreadable)} unreadable file(s)" + (" in the sample" if sampled else ""))
    if audit.mismatched:
        out.append(
            f"{audit.mismatched} file(s) whose suffix does not match their format (e.g. a PNG named .jpg)"
        )
    return out


def _class_summary(stats: _ClassStats) -> dict[str, Any]:
    return {
        "formats": dict(stats.formats.most_common()),
        "modes": dict(stats.modes.most_common()),
        "sizes": stats.size_summary(),
        "jpeg_quality_median": round(float(np.median(stats.qualities)), 1) if stats.qualities else None,
    }


def inspect_dataset(
    path: str | os.PathLike,
    layout: str = "auto",
    max_files: int | None = 2000,
    seed: int = 0,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    """Audit a dataset: what `discover` finds plus per-class file facts and shortcut warnings.

    Args:
        path: dataset folder or CSV/JSONL image list.
        layout: as for `discover`.
        max_files: decode at most this many files (stratified by generator and label, seeded);
            `None` checks every file. The report says when it sampled.
        seed: seed of the sample.
        progress: show a progress bar on stderr while decoding.

    Returns:
        A JSON-ready dict: `path, layout, n_images, by_label, counts, sampled, classes (formats, modes,
        sizes, jpeg_quality_median per class), unreadable, suffix_mismatch, skipped_non_image_files,
        warnings, notes`.
    """
    found = scan(path, layout, allow_single_class=True)
    samples = found.samples
    checked = samples if max_files is None else stratified_subset(samples, max_files, seed)
    audit = _audit(checked, progress)
    counts = _counts(samples)
    return {
        "path": str(found.root),
        "layout": found.layout,
        "n_images": len(samples),
        "by_label": {LABEL_NAMES[k]: v for k, v in sorted(Counter(s.label for s in samples).items())},
        "counts": counts,
        "sampled": {"checked": len(checked), "of": len(samples), "all": len(checked) == len(samples)},
        "classes": {LABEL_NAMES[label]: _class_summary(audit.stats["all"][label]) for label in (0, 1)},
        "unreadable": {"count": len(audit.unreadable), "files": audit.unreadable[:50]},
        "suffix_mismatch": audit.mismatched,
        "skipped_non_image_files": found.skipped_files,
        "warnings": _all_warnings(audit, counts, len(checked) < len(samples)),
        "notes": found.notes,
    }
