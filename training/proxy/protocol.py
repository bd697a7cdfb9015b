"""The proxy benchmark's protocol: train on one family, test on every family (GenImage-style).

Used by the quickstart and `benchmarks/accuracy.py`. A run trains the tiny random-init backbone on
one family's `train` split minus a held-out share of its reals; the decision threshold is chosen on
those held-out reals for a target false-positive rate (never on test labels); every family's `val`
split is then scored, giving per-family real / fake accuracy, accuracy and AP and their means.
A proxy built with a shortcut cue also has `val_cue` fakes; their fake accuracy against the clean
`val` fakes' is the shortcut gap (`result["shortcut"]`).
"""

from __future__ import annotations

import csv
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.errors import DatasetError
from pinclip_sdk.training.threads import torch_threads

logger = logging.getLogger(__name__)

# Light augmentation: the fingerprints of the generators are a few pixels wide, and resampling
# (resize jitter) or blur would erase them in 64-px images. Both classes get the same treatment.
PROXY_AUGMENT = {
    "crop_prob": 1.0,
    "flip_prob": 0.5,
    "blur_prob": 0.0,
    "jpeg_prob": 0.0,
    "resize_jitter": [1.0, 1.0],
}


@dataclass(frozen=True)
class RunSpec:
    """One detector training run on the proxy benchmark.

    Attributes:
        family: generator family trained on (its `train` split).
        noise: `pin` (learned noise), `random` (fixed-sigma Gaussian) or `none`.
        finetune: `full` (random init has nothing worth freezing), `lora`, or `frozen` (linear probe).
        head: `cosine` (against the prompt embeddings, frozen temperature) or `linear`.
        injection: where the noise enters: `tokens` (a block's input), `pooled` or `cls`.
        seed: seed of the model init, data order and the threshold-reals hold-out.
        steps: optimiser steps.
        batch_size: images per step.
        lr: peak learning rate (cosine schedule after a short warmup).
        image_size: model input size (the proxy images' size).
        calib_fraction: share of the family's train reals held out to choose the threshold.
        target_fpr: false-positive rate the threshold is chosen for on the held-out reals.
        threads: torch intra-op threads while training and scoring (1: the tiny model gains little
            from more, and on a busy CPU thread hand-offs cost more than the work).
        view: what part of each image the model sees (`PreprocessSpec.view`): `resize` (the
            default), `crop` (native centre crop), `tiles` (grid of native crops) or `patches`
            (the patch-selection mosaic).
        tile_grid: rows, cols of the `tiles` view.
        tile_reduce: `mean` or `max` of the tiles' logits (`tiles` view).
        patch_size: side of the mosaic's patches (`patches` view); 16 makes a 4x4 mosaic of a
            64-px input.
    """

    family: str = "tconv"
    noise: str = "pin"
    finetune: str = "full"
    head: str = "cosine"
    injection: str = "tokens"
    seed: int = 0
    steps: int = 2400
    batch_size: int = 32
    lr: float = 1e-3
    image_size: int = 64
    calib_fraction: float = 0.2
    target_fpr: float = 0.05
    threads: int = 1
    view: str = "resize"
    tile_grid: tuple[int, int] = (2, 2)
    tile_reduce: str = "mean"
    patch_size: int = 16

    @property
    def name(self) -> str:
        default = (self.head, self.injection) == ("cosine", "tokens")
        layout = "" if default else f"-{self.head}-{self.injection}"
        return f"{self.family}-{self.finetune}-{self.noise}{layout}{self.view_tag}-s{self.seed}"

    @property
    def view_tag(self) -> str:
        """The view's part of `name`: empty for `resize`, so run names from before views stay."""
        if self.view == "resize":
            return ""
        if self.view == "tiles":
            rows, cols = self.tile_grid
            return f"-tiles{rows}x{cols}{self.tile_reduce}"
        if self.view == "patches":
            return f"-patches{self.patch_size}"
        return f"-{self.view}"


@dataclass
class RunOutcome:
    """A trained run: its checkpoint, its training images, the reals held out for the threshold, the cost."""

    spec: RunSpec
    checkpoint: Path
    train_image_list: Path  # the images trained on (CSV): INT8 calibration data that is never test data
    threshold_reals: list[Any]
    train_samples: int
    train_seconds: float
    final_loss: float


def family_dir(proxy_root: str | Path, family: str) -> Path:
    """The folder holding one family (the `<Gen>` level of the GenImage layout)."""
    return Path(proxy_root) / family


def split_threshold_reals(samples: list[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Hold out `fraction` of the reals (seeded) for threshold calibration; the rest is for training."""
    reals = sorted((s for s in samples if s.label == 0), key=lambda s: str(s.path))
    random.Random(seed).shuffle(reals)
    count = max(1, int(round(len(reals) * fraction)))
    held_out = sorted(reals[:count], key=lambda s: str(s.path))
    held = {str(s.path) for s in held_out}
    train = [s for s in samples if str(s.path) not in held]
    return train, held_out


def write_image_list(samples: list[Any], path: Path) -> Path:
    """A CSV image list (path,label,generator,split) that `training.data.discover` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "generator", "split"])
        for sample in samples:
            writer.writerow([str(Path(sample.path).resolve()), sample.label, sample.generator, "train"])
    return path


def train_config(spec: RunSpec, image_list: Path, out_dir: Path, *, progress: bool = False) -> Any:
    """The `TrainConfig` of a run: the tiny backbone, no validation during training (no test peeking)."""
    from pinclip_sdk.training.config import TrainConfig, from_dict

    warmup = min(30, spec.steps // 10)
    return from_dict(
        TrainConfig,
        {
            "model": {
                "backbone": "pinclip-tiny-vit",
                "pretrained": None,
                "image_size": spec.image_size,
                "finetune": spec.finetune,
                "lora": {"rank": 4, "alpha": 8.0, "dropout": 0.0},
                "head": spec.head,
                "view": spec.view,
                "tile_grid": list(spec.tile_grid),
                "tile_reduce": spec.tile_reduce,
                "patch_size": spec.patch_size,
                "noise": {
                    "mode": "none" if spec.finetune == "frozen" else spec.noise,
                    "injection": spec.injection,
                },
            },
            "data": {
                "train_path": str(image_list),
                "train_split": None,
                "val_split": None,
                "batch_size": spec.batch_size,
                "num_workers": 0,
                "augment": PROXY_AUGMENT,
            },
            "optim": {"lr": spec.lr, "warmup_steps": warmup, "weight_decay": 0.01},
            "out_dir": str(out_dir),
            "max_steps": spec.steps,
            "epochs": 1000,
            "seed": spec.seed,
            "log_every": 25,
            "save_every": spec.steps,
            "progress": progress,
        },
    )


def train_run(
    spec: RunSpec, proxy_root: str | Path, work_dir: str | Path, *, progress: bool = False
) -> RunOutcome:
    """Train one run on `spec.family`'s train split minus the reals held out for the threshold."""
    from pinclip_sdk.training import data, trainer

    samples = data.discover(family_dir(proxy_root, spec.family), split="train")
    train, threshold_reals = split_threshold_reals(samples, spec.calib_fraction, spec.seed)
    run_dir = Path(work_dir) / spec.name
    image_list = write_image_list(train, run_dir / "train_image_list.csv")
    config = train_config(spec, image_list, run_dir / "run", progress=progress)
    started = time.perf_counter()
    with torch_threads(spec.threads):
        result = trainer.train(config)
    seconds = time.perf_counter() - started
    tail = result.losses[-max(1, len(result.losses) // 10) :]
    return RunOutcome(
        spec, result.last_checkpoint, image_list, threshold_reals, len(train), seconds, float(np.mean(tail))
    )


def evaluate_run(outcome: RunOutcome, proxy_root: str | Path, *, progress: bool = False) -> dict[str, Any]:
    """Score the threshold reals and every family's val split; metrics at the calibrated threshold.

    Returns `metrics.detection_metrics`'s dict plus `calibration` (threshold logit, target and
    achieved FPR on the held-out reals).
    """
    with torch_threads(outcome.spec.threads):
        return _evaluate(outcome, proxy_root, progress)


def _evaluate(outcome: RunOutcome, proxy_root: str | Path, progress: bool) -> dict[str, Any]:
    from pinclip_sdk.training import checkpoint, data, evaluate, metrics

    model, _ = checkpoint.load_model(outcome.checkpoint)
    spec = model.preprocess_spec
    threshold_scores = evaluate.score_samples(model, outcome.threshold_reals, spec, progress=progress)
    threshold = metrics.threshold_for_fpr(threshold_scores, outcome.spec.target_fpr)
    test = data.discover(proxy_root, split="val")
    if not test:
        raise DatasetError(f"{proxy_root}: no val images to test on")
    scores = evaluate.score_samples(model, test, spec, progress=progress)
    result = metrics.detection_metrics(
        [s.label for s in test], scores, [s.generator for s in test], threshold
    )
    result["calibration"] = {
        "threshold_logit": threshold,
        "target_fpr": outcome.spec.target_fpr,
        "achieved_fpr": metrics.false_positive_rate(threshold_scores, threshold),
        "n_reals": len(outcome.threshold_reals),
    }
    cued = _cue_samples(proxy_root)
    if cued:
        cue_scores = evaluate.score_samples(model, cued, spec, progress=progress)
        result["shortcut"] = shortcut_gap(result, [s.generator for s in cued], cue_scores, threshold)
    return result


def _cue_samples(proxy_root: str | Path) -> list[Any]:
    """The `val_cue` fakes of every family, named like that family's val images ([] without a cue).

    Listed here, not by `data.discover`, which refuses a split holding one class only.
    """
    from pinclip_sdk.training.data.sample import CUE_SPLIT, Sample
    from pinclip_sdk.training.proxy.builder import subset_dir

    root = Path(proxy_root)
    samples = []
    for family_root in sorted(p for p in root.iterdir() if p.is_dir()):
        folder = subset_dir(root, family_root.name) / CUE_SPLIT / "ai"
        generator = generator_name(family_root.name)
        samples += [Sample(path, 1, generator, CUE_SPLIT) for path in sorted(folder.glob("*.jpg"))]
    return samples


def shortcut_gap(
    result: dict[str, Any], generators: list[str], cue_scores: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Fake accuracy on the cued val fakes minus that on the same fakes without the cue, per family.

    A detector that learned the generators' traces scores both alike (gap near 0); one that learned
    the cue the training fakes carried loses recall without it (a large positive gap).
    """
    scores = np.asarray(cue_scores, dtype=np.float64)
    names = np.asarray(generators)
    per_family = {}
    for name in sorted(set(generators)):
        with_cue = float(np.mean(scores[names == name] >= threshold))
        clean = float(result["generators"][name]["fake_acc"])
        per_family[name] = {"fake_acc_cue": with_cue, "fake_acc_clean": clean, "gap": with_cue - clean}
    mean = {
        key: float(np.mean([row[key] for row in per_family.values()]))
        for key in ("fake_acc_cue", "fake_acc_clean", "gap")
    }
    return {"generators": per_family, "mean": mean}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.1f}"


def metrics_table(result: dict[str, Any], train_generator: str | None = None) -> str:
    """Markdown table in the shape of the paper's GenImage table: rows = generators, + the mean."""
    lines = ["| generator | real acc | fake acc | acc | AP |", "|---|---:|---:|---:|---:|"]
    for name, row in result["generators"].items():
        label = f"{name} (train)" if train_generator and name == train_generator else name
        lines.append(
            f"| {label} | {_pct(row['real_acc'])} | {_pct(row['fake_acc'])} | {_pct(row['acc'])} | "
            f"{_pct(row['ap'])} |"
        )
    mean = result["mean"]
    lines.append(
        f"| **mean** | {_pct(mean['real_acc'])} | {_pct(mean['fake_acc'])} | {_pct(mean['acc'])} | "
        f"{_pct(mean['ap'])} |"
    )
    return "\n".join(lines)


def generator_name(family: str) -> str:
    """The generator name `discover` gives a family's images (its GenImage subset folder)."""
    return f"proxy_{family}"
