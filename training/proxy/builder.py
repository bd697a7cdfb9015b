"""Build the offline proxy forensic benchmark: real photo crops vs fakes of small trained generators.

Layout (GenImage's, one generator family per folder, read by `pinclip_sdk.training.data.discover`):

    OUT/<family>/proxy_<family>/{train,val}/{ai,nature}/<family>_<split>_<class>_<index>.jpg
    OUT/<family>/proxy_<family>/val_cue/ai/...   with `shortcut_cue`: the val fakes carrying the cue
    OUT/proxy_stamp.json    parameters + summary; the build is skipped when they match
    OUT/SOURCES.md          the source photographs, their credits and licences
    OUT/provenance.csv      per file: family, split, class, source photo, JPEG quality

Both classes are written as JPEG with a quality drawn from the same range, so neither the file
format nor the compression tells them apart; both go through the same multi-scale crop and
resize; fakes come from photos disjoint from the reals' (see `sources`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.training.data.sample import CUE_SPLIT
from pinclip_sdk.training.proxy import fit, sharpness, sources
from pinclip_sdk.training.proxy.proxy_config import FAMILIES, FamilyStats, ProxyConfig, ProxySummary
from pinclip_sdk.training.threads import torch_threads

logger = logging.getLogger(__name__)

STAMP_NAME = "proxy_stamp.json"
PROVENANCE_NAME = "provenance.csv"
MARKER_NAME = ".proxy_building.json"
SPLITS = ("train", "val")
CLASS_DIRS = {0: "nature", 1: "ai"}
FIT_CROPS = 512  # real crops each generator is trained on (patches are drawn from them)


def subset_dir(root: Path, family: str) -> Path:
    """The GenImage subset folder of one family: `root/<family>/proxy_<family>`."""
    return root / family / f"proxy_{family}"


@contextlib.contextmanager
def _deterministic_torch(threads: int) -> Iterator[None]:
    previous_mode = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with torch_threads(threads):
            yield
    finally:
        torch.use_deterministic_algorithms(previous_mode)


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def shortcut_texture(cfg: ProxyConfig) -> np.ndarray:
    """The fixed cue: a seeded +-1 luminance pattern in 2x2 blocks, scaled to `shortcut_cue` levels.

    Grey (the same in every channel) and 2 px wide, so JPEG at the proxy's qualities keeps most of it.
    """
    signs = _rng(cfg.seed, 7777).choice(
        np.array([-1.0, 1.0], np.float32), size=(cfg.size // 2, cfg.size // 2)
    )
    blocks = np.kron(signs, np.ones((2, 2), np.float32))
    return (blocks * np.float32(cfg.shortcut_cue))[:, :, None]


def with_cue(images: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """`images` (uint8 [N, H, W, 3]) plus the cue, rounded and clipped back to 8 bits."""
    return np.clip(np.rint(images.astype(np.float32) + texture), 0, 255).astype(np.uint8)


def _write_jpegs(images: np.ndarray, directory: Path, stem: str, qualities: np.ndarray) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (pixels, quality) in enumerate(zip(images, qualities, strict=True)):
        path = directory / f"{stem}_{index:05d}.jpg"
        Image.fromarray(pixels).save(path, format="JPEG", quality=int(quality))
        paths.append(path)
    return paths


def _build_family(
    root: Path,
    family_index: int,
    family: str,
    pool: sources.SourcePool,
    fit_crops: np.ndarray,
    cfg: ProxyConfig,
    bar: tqdm,
    provenance: list[tuple[str, ...]],
) -> tuple[FamilyStats, dict[str, int]]:
    started = time.perf_counter()
    bar.set_description(f"proxy: train {family}")
    model, loss = fit.train_generator(
        family, fit_crops, seed=cfg.seed * 1000 + family_index, steps=cfg.generator_steps,
        batch=cfg.generator_batch, patch=cfg.patch, progress=bar,
    )  # fmt: skip
    train_seconds = time.perf_counter() - started
    bar.set_description(f"proxy: write {family}")
    written: dict[int, list[Path]] = {0: [], 1: []}
    counts: dict[str, int] = {}
    sources_sharpness: list[float] = []
    fakes_sharpness: list[float] = []
    lo, hi = cfg.jpeg_quality
    texture = shortcut_texture(cfg)
    for split_index, split in enumerate(SPLITS):
        count = cfg.train_per_class if split == "train" else cfg.val_per_class
        for label in (0, 1):
            rng = _rng(cfg.seed, family_index, split_index, label)
            regions = pool.regions[split]  # the same regions for both classes (see `sources`)
            crops, photos = sources.sample_crops(regions, count, cfg.size, cfg.max_scale, rng)
            if label == 1:
                sources_sharpness += [sharpness.laplacian_energy(c) for c in crops]
                crops = fit.synthesize(model, crops, seed=int(rng.integers(2**31)))
                fakes_sharpness += [sharpness.laplacian_energy(c) for c in crops]
            qualities = rng.integers(lo, hi + 1, size=count)  # same distribution for both classes
            cued = cfg.shortcut_cue > 0 and label == 1
            outputs = [(split, with_cue(crops, texture) if cued and split == "train" else crops)]
            if cued and split == "val":
                outputs.append((CUE_SPLIT, with_cue(crops, texture)))
            for out_split, pixels in outputs:
                directory = subset_dir(root, family) / out_split / CLASS_DIRS[label]
                stem = f"{family}_{out_split}_{CLASS_DIRS[label]}"
                paths = _write_jpegs(pixels, directory, stem, qualities)
                if out_split in SPLITS:
                    written[label] += paths
                provenance += [
                    (path.relative_to(root).as_posix(), family, out_split, CLASS_DIRS[label], photo, str(q))
                    for path, photo, q in zip(paths, photos, qualities, strict=True)
                ]
                counts[f"{out_split}/{CLASS_DIRS[label]}"] = count
            bar.update(count)
    stats = FamilyStats(
        family=family,
        description=FAMILIES[family],
        generator_parameters=sum(p.numel() for p in model.parameters()),
        final_loss=loss,
        train_seconds=round(train_seconds, 2),
        sharpness_real=sharpness.mean_sharpness(written[0]),
        sharpness_fake=sharpness.mean_sharpness(written[1]),
        detail_retained=float(np.mean(fakes_sharpness) / max(np.mean(sources_sharpness), 1e-12)),
    )
    logger.info(
        "proxy family %s: generator loss %.4f, sharpness fake/real %.2f", family, loss, stats.sharpness_ratio
    )
    return stats, counts


def _credits(pool: sources.SourcePool) -> str:
    lines = [
        "# Source photographs of this proxy benchmark",
        "",
        "Real images are crops of these photographs; fakes are outputs of small generators trained on crops",
        "of them. Crops of CC BY photographs are derivatives: keep this attribution with them.",
        "",
        "| photo | shipped with | credit | licence |",
        "|---|---|---|---|",
    ]
    lines += [f"| {p.name} | {p.package} | {p.credit} | {p.licence} |" for p in pool.photos]
    return "\n".join(lines) + "\n"


def _build(root: Path, cfg: ProxyConfig, show_progress: bool) -> ProxySummary:
    started = time.perf_counter()
    pool = sources.load_sources(cfg.size)
    fit_regions = pool.regions["train"]
    fit_crops, _ = sources.sample_crops(fit_regions, FIT_CROPS, cfg.size, cfg.max_scale, _rng(cfg.seed, 9999))
    per_family = cfg.generator_steps + 2 * (cfg.train_per_class + cfg.val_per_class)
    summary = ProxySummary(
        root=str(root),
        config=cfg.to_dict(),
        cached=False,
        seconds=0.0,
        sources=[p.describe() for p in pool.photos],
    )
    provenance: list[tuple[str, ...]] = []
    with tqdm(total=per_family * len(cfg.families), disable=not show_progress, unit="step") as bar:
        for family_index, family in enumerate(cfg.families):
            stats, counts = _build_family(root, family_index, family, pool, fit_crops, cfg, bar, provenance)
            summary.families.append(stats)
            summary.counts[family] = counts
    (root / "SOURCES.md").write_text(_credits(pool), encoding="utf-8")
    with (root / PROVENANCE_NAME).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "family", "split", "class", "photo", "jpeg_quality"])
        writer.writerows(provenance)
    summary.seconds = round(time.perf_counter() - started, 2)
    return summary


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _clear_previous(root: Path) -> None:
    """Remove what an earlier (possibly interrupted) build wrote; refuse to touch anything else."""
    stamp = _read_json(root / STAMP_NAME)
    marker = _read_json(root / MARKER_NAME)
    if stamp is None and marker is None:
        if root.exists() and any(root.iterdir()):
            raise ConfigError(
                f"proxy output {root} is not empty and holds no {STAMP_NAME}: not a proxy benchmark built "
                f"by pinclip. Choose a new or empty folder"
            )
        return
    families = set()
    for record in (stamp, marker):
        if record is not None:
            families.update(record.get("config", {}).get("families", []))
    for family in families:
        if (root / family).is_dir() and family in FAMILIES:
            shutil.rmtree(root / family)
    for name in (STAMP_NAME, MARKER_NAME, "SOURCES.md", PROVENANCE_NAME):
        (root / name).unlink(missing_ok=True)


def _is_complete(root: Path, summary: dict) -> bool:
    for family, counts in summary.get("counts", {}).items():
        for key, count in counts.items():
            split, cls = key.split("/")
            directory = subset_dir(root, family) / split / cls
            if not directory.is_dir() or sum(1 for _ in directory.glob("*.jpg")) != count:
                return False
    return bool(summary.get("counts"))


def build_proxy(
    out: str | Path, config: ProxyConfig | None = None, *, force: bool = False, progress: bool = True
) -> ProxySummary:
    """Build the proxy benchmark under `out`, or reuse it when an identical build is already there.

    Args:
        out: output folder (created); must be new, empty, or an earlier proxy build.
        config: what to build; `ProxyConfig()` by default.
        force: rebuild even when the stamp matches.
        progress: show a tqdm progress bar on stderr.

    Returns:
        The summary (counts, per-family generator loss and sharpness); `cached` tells whether it was reused.

    Raises:
        ConfigError: `out` holds something that is not a proxy build.
        DatasetError: the source photographs are not installed.
    """
    cfg = config or ProxyConfig()
    root = Path(out).expanduser().resolve()
    stamp = _read_json(root / STAMP_NAME)
    if stamp and not force and stamp.get("config") == cfg.to_dict() and _is_complete(root, stamp["summary"]):
        summary = ProxySummary.from_dict(stamp["summary"])
        summary.cached = True
        summary.root = str(root)
        logger.info("proxy benchmark in %s is up to date (seed %d); reusing it", root, cfg.seed)
        return summary
    _clear_previous(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER_NAME).write_text(json.dumps({"config": cfg.to_dict()}), encoding="utf-8")
    with _deterministic_torch(cfg.threads):
        summary = _build(root, cfg, progress)
    stamp = {"config": cfg.to_dict(), "summary": summary.to_dict()}
    (root / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    (root / MARKER_NAME).unlink()
    return summary
