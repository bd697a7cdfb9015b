"""Train one generator family on real crops, and run it to make fakes (deterministic for a seed)."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from pinclip_sdk.errors import TrainingError
from pinclip_sdk.training.proxy.generators import GENERATOR_FACTORIES, ProxyGenerator

logger = logging.getLogger(__name__)

LEARNING_RATE = 3e-3
GENERATE_BATCH = 64


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float [N, 3, H, W] in [0, 1] (clamped) -> uint8 [N, H, W, 3], rounded to nearest."""
    return images.clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def train_generator(
    family: str, crops: np.ndarray, *, seed: int, steps: int, batch: int, patch: int, progress=None
) -> tuple[ProxyGenerator, float]:
    """Train `family`'s generator on random `patch`-px patches of `crops` (uint8 [N, H, W, 3]).

    The learning rate follows a cosine decay to zero. Returns the model (in eval mode) and the mean
    loss of the last 10% of steps.

    Raises:
        TrainingError: if the loss becomes non-finite.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = GENERATOR_FACTORIES[family]()
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    pixels = to_tensor(crops)
    count, _, height, width = pixels.shape
    tail: list[float] = []
    model.train()
    for step in range(steps):
        index = torch.randint(0, count, (batch,), generator=generator)
        top = int(torch.randint(0, height - patch + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - patch + 1, (1,), generator=generator))
        loss = model.training_loss(pixels[index, :, top : top + patch, left : left + patch], generator)
        if not torch.isfinite(loss):
            raise TrainingError(f"proxy generator {family!r}: non-finite loss at step {step}")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if step >= steps - max(1, steps // 10):
            tail.append(float(loss.detach()))
        if progress is not None:
            progress.update(1)
    model.eval()
    final = float(np.mean(tail))
    logger.debug("proxy generator %s trained %d steps, final loss %.4f", family, steps, final)
    return model, final


@torch.no_grad()
def synthesize(model: ProxyGenerator, sources: np.ndarray, *, seed: int) -> np.ndarray:
    """Fakes from `sources` (uint8 [N, H, W, 3]) in fixed batches, as uint8 [N, H, W, 3]."""
    generator = torch.Generator().manual_seed(seed)
    out = np.empty_like(sources)
    for start in range(0, len(sources), GENERATE_BATCH):
        chunk = to_tensor(sources[start : start + GENERATE_BATCH])
        out[start : start + GENERATE_BATCH] = to_uint8(model.synthesize(chunk, generator))
    return out
