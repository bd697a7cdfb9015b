"""Score a dataset with a PiN-CLIP model and turn the scores into the field's metrics.

Scoring runs `PiNCLIP.predict_logits` in eval mode, with the test-time noise the model config
names (`noise.inference`; `none`, the default, is the deployed path `forward_head(forward_features(x))`
that the exported detector reproduces), on pixels from the exact eval transform (the C++ core).
Unreadable images get a NaN score and are reported.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from tqdm import tqdm

from pinclip_sdk.errors import CalibrationError
from pinclip_sdk.prediction import sigmoid
from pinclip_sdk.spec import PreprocessSpec
from pinclip_sdk.training import metrics
from pinclip_sdk.training.data import ImageDataset, Sample, collate
from pinclip_sdk.training.data.augment import build_eval_transform
from pinclip_sdk.training.data.sample import REAL
from pinclip_sdk.views import image_logits

logger = logging.getLogger(__name__)


@dataclass
class Scores:
    """Logits per sample (NaN where the image could not be read) and the unreadable files."""

    logits: np.ndarray
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def _device_of(model: torch.nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def score_dataset(
    model: torch.nn.Module,
    samples: Sequence[Sample],
    spec: PreprocessSpec,
    batch_size: int = 64,
    *,
    num_workers: int = 0,
    image_transform: Callable[[Image.Image], Image.Image] | None = None,
    progress: bool = True,
    desc: str = "scoring",
) -> Scores:
    """Logits of every sample plus the unreadable files; see `score_samples`."""
    dataset = ImageDataset(samples, build_eval_transform(spec), image_transform)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate
    )
    logits = np.full(len(dataset), np.nan, dtype=np.float64)
    unreadable: list[tuple[str, str]] = []
    device = _device_of(model)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch in tqdm(
                loader, desc=desc, unit="batch", disable=not progress, file=sys.stderr, leave=False
            ):
                unreadable.extend(batch["unreadable"])
                if len(batch["index"]) == 0:
                    continue
                pixels = batch["pixels"].to(device)
                if pixels.ndim == 5:  # the tiles view: [B, k, 3, H, W], one logit per image
                    out = _logits(model, pixels.flatten(0, 1))
                    values = image_logits(out.float().reshape(-1).cpu().numpy(), spec)
                else:
                    values = _logits(model, pixels).float().reshape(-1).cpu().numpy()
                logits[batch["index"].numpy()] = values
    finally:
        model.train(was_training)
    if unreadable:
        logger.warning(
            "%d of %d images could not be read and are left out (first: %s)",
            len(unreadable),
            len(dataset),
            unreadable[0][0],
        )
    return Scores(logits, unreadable)


def _logits(model: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    if hasattr(model, "predict_logits"):  # honours model.config.noise.inference
        return model.predict_logits(pixels)
    return model.forward_head(model.forward_features(pixels))


def score_samples(
    model: torch.nn.Module,
    samples: Sequence[Sample],
    spec: PreprocessSpec,
    batch_size: int = 64,
    *,
    num_workers: int = 0,
    image_transform: Callable[[Image.Image], Image.Image] | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Logits (log-odds of fake) per sample, NaN for unreadable images.

    Args:
        model: a `PiNCLIP` (or anything with `forward_features` / `forward_head`); run in eval mode
            with its configured inference noise and restored to its previous mode afterwards.
        samples: the images, e.g. from `data.discover`.
        spec: the eval preprocessing (`model.preprocess_spec`).
        batch_size: images per forward pass.
        num_workers: DataLoader worker processes for decoding.
        image_transform: optional `PIL -> PIL` degradation applied before preprocessing.
        progress: show a tqdm bar on stderr.
    """
    return score_dataset(
        model,
        samples,
        spec,
        batch_size,
        num_workers=num_workers,
        image_transform=image_transform,
        progress=progress,
    ).logits


def logit(probability: float) -> float:
    """Log-odds of a probability in [0, 1] (-inf at 0, +inf at 1)."""
    if probability <= 0.0:
        return -math.inf
    if probability >= 1.0:
        return math.inf
    return math.log(probability) - math.log1p(-probability)


def calibrate_model_threshold(
    model: torch.nn.Module,
    reals: Sequence[Sample],
    spec: PreprocessSpec,
    target_fpr: float,
    batch_size: int = 64,
    *,
    num_workers: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """The decision threshold for `target_fpr` on held-out reals scored by `model`, and how it was
    obtained: chosen on p_fake by the SDK's one threshold calibration
    (`export.threshold.calibrate_decision_threshold`, as `pinclip calibrate` does on a bundle), with
    its logit for `evaluate_samples`.

    Returns:
        `{"p_fake", "logit", "method": "target_fpr", "target_fpr", "n_reals", "unreadable",
        "achieved_fpr", "resolvable"}` (`achieved_fpr` on the calibration reals themselves).
    """
    from pinclip_sdk.export.threshold import calibrate_decision_threshold

    reals = [s for s in reals if s.label == REAL]
    if not reals:
        raise CalibrationError("no real images to choose a threshold on")
    scores = score_dataset(
        model, reals, spec, batch_size, num_workers=num_workers, progress=progress, desc="calibrating"
    )
    finite = scores.logits[np.isfinite(scores.logits)]
    chosen = calibrate_decision_threshold(sigmoid(finite), target_fpr)
    return {
        **chosen,
        "logit": logit(chosen["p_fake"]),
        "method": "target_fpr",
        "unreadable": len(scores.unreadable),
    }


def evaluate_samples(
    model: torch.nn.Module,
    samples: Sequence[Sample],
    spec: PreprocessSpec,
    threshold_logit: float,
    batch_size: int = 64,
    *,
    num_workers: int = 0,
    image_transform: Callable[[Image.Image], Image.Image] | None = None,
    progress: bool = True,
    desc: str = "evaluating",
) -> tuple[dict[str, Any], Scores]:
    """Score `samples` and compute `metrics.detection_metrics` at a fixed logit threshold.

    The result also lists unreadable files under `unreadable` (count and the first 20 paths).
    """
    scores = score_dataset(
        model,
        samples,
        spec,
        batch_size,
        num_workers=num_workers,
        image_transform=image_transform,
        progress=progress,
        desc=desc,
    )
    result = metrics.detection_metrics(
        [s.label for s in samples], scores.logits, [s.generator for s in samples], threshold_logit
    )
    result["unreadable"] = {"count": len(scores.unreadable), "first": [p for p, _ in scores.unreadable[:20]]}
    return result, scores
