"""Robustness grid: JPEG quality x Gaussian blur x downscale, at one fixed threshold.

The threshold is chosen once, on clean held-out reals (or given), and kept for every condition:
re-tuning it per degradation inflates robustness (docs/references.md#metrics-and-thresholds). Each image
is degraded in the order a sharing pipeline applies: blur, downscale, then JPEG re-encoding; the
eval transform then resizes it back to the model's input size.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.spec import PreprocessSpec
from pinclip_sdk.training.data.augment import gaussian_blur, jpeg_recompress
from pinclip_sdk.training.data.sample import Sample, stratified_subset
from pinclip_sdk.training.evaluate import evaluate_samples

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RobustnessConfig:
    """The grid's axes; `None` quality, sigma 0 and scale 1 mean "not applied".

    Args:
        jpeg_qualities: JPEG qualities (1-100) or `None` for no re-encoding.
        blur_sigmas: Gaussian blur standard deviations in pixels.
        downscales: factors (0, 1] applied to both sides (bicubic).
        max_images: score at most this many images per condition (a seeded subset stratified by
            generator and label); `None` = all.
        seed: seed of that subset.
    """

    jpeg_qualities: tuple[int | None, ...] = (None, 75, 30)
    blur_sigmas: tuple[float, ...] = (0.0, 1.0, 3.0)
    downscales: tuple[float, ...] = (1.0, 0.5)
    max_images: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.jpeg_qualities and self.blur_sigmas and self.downscales):
            raise ConfigError("robustness: every axis (jpeg, blur, downscale) needs at least one value")
        for q in self.jpeg_qualities:
            if q is not None and not 1 <= int(q) <= 100:
                raise ConfigError(f"robustness: JPEG quality {q!r} is not within 1..100 (or None)")
        if any(s < 0 for s in self.blur_sigmas):
            raise ConfigError(f"robustness: blur sigmas must be >= 0, got {self.blur_sigmas}")
        if any(not 0 < f <= 1 for f in self.downscales):
            raise ConfigError(f"robustness: downscale factors must be in (0, 1], got {self.downscales}")
        if self.max_images is not None and self.max_images < 2:
            raise ConfigError(f"robustness: max_images must be >= 2, got {self.max_images}")


@dataclass(frozen=True)
class Degradation:
    """One grid cell, a picklable `PIL -> PIL` callable (DataLoader workers receive it)."""

    jpeg_quality: int | None = None
    blur_sigma: float = 0.0
    downscale: float = 1.0

    @property
    def is_clean(self) -> bool:
        return self.jpeg_quality is None and self.blur_sigma == 0 and self.downscale == 1

    @property
    def name(self) -> str:
        if self.is_clean:
            return "clean"
        parts = [
            f"jpeg{self.jpeg_quality}" if self.jpeg_quality is not None else "",
            f"blur{self.blur_sigma:g}" if self.blur_sigma else "",
            f"x{self.downscale:g}" if self.downscale != 1 else "",
        ]
        return "+".join(p for p in parts if p)

    def __call__(self, image: Image.Image) -> Image.Image:
        image = gaussian_blur(image, self.blur_sigma)
        if self.downscale != 1:
            size = (max(1, round(image.width * self.downscale)), max(1, round(image.height * self.downscale)))
            image = image.resize(size, Image.BICUBIC)
        if self.jpeg_quality is not None:
            image = jpeg_recompress(image, self.jpeg_quality)
        return image


def grid(cfg: RobustnessConfig) -> list[Degradation]:
    """Every combination of the axes, in axis order."""
    return [
        Degradation(q, float(s), float(f))
        for q, s, f in itertools.product(cfg.jpeg_qualities, cfg.blur_sigmas, cfg.downscales)
    ]


def run_robustness(
    model: torch.nn.Module,
    samples: Sequence[Sample],
    spec: PreprocessSpec,
    threshold_logit: float,
    cfg: RobustnessConfig | None = None,
    batch_size: int = 64,
    *,
    num_workers: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Metrics for every grid cell at the same `threshold_logit`.

    Returns:
        `{"threshold": logit, "n_images", "axes": {...}, "conditions": [{"name", "jpeg_quality",
        "blur_sigma", "downscale", "mean": {...}, "generators": {...}, "unreadable"}]}`.
    """
    cfg = cfg or RobustnessConfig()
    if cfg.max_images is not None:
        samples = stratified_subset(samples, cfg.max_images, cfg.seed)
    cells = grid(cfg)
    conditions = []
    for index, cell in enumerate(cells, start=1):
        logger.info("robustness %d/%d: %s", index, len(cells), cell.name)
        result, _ = evaluate_samples(
            model,
            samples,
            spec,
            threshold_logit,
            batch_size,
            num_workers=num_workers,
            image_transform=None if cell.is_clean else cell,
            progress=progress,
            desc=f"{cell.name} ({index}/{len(cells)})",
        )
        conditions.append(
            {
                "name": cell.name,
                "jpeg_quality": cell.jpeg_quality,
                "blur_sigma": cell.blur_sigma,
                "downscale": cell.downscale,
                "mean": result["mean"],
                "generators": result["generators"],
                "unreadable": result["unreadable"]["count"],
            }
        )
    return {
        "threshold": float(threshold_logit),
        "n_images": len(samples),
        "axes": {
            "jpeg_quality": list(cfg.jpeg_qualities),
            "blur_sigma": [float(s) for s in cfg.blur_sigmas],
            "downscale": [float(f) for f in cfg.downscales],
        },
        "conditions": conditions,
    }
