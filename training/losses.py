"""The PiN-CLIP objective: clean BCE + lambda * mean_K noisy BCE (+ beta * KL to N(0, I)).

The variational reconstruction in docs/references.md#variational-objective: maximising a lower bound of
I(T; E) amounts to minimising the expected task loss under the generated noise, here estimated with
K reparameterised samples; the clean term keeps the noiseless path (the deployed one) trained.
Every term is returned separately for logging.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pinclip_sdk.training.config import LossConfig


@dataclass
class LossTerms:
    """The total loss and its parts (detached copies for logging: `as_tensors`, `as_floats`)."""

    total: torch.Tensor
    clean: torch.Tensor
    noisy: torch.Tensor | None = None
    kl: torch.Tensor | None = None

    def as_tensors(self) -> dict[str, torch.Tensor]:
        """Detached 0-d copies, left on the loss's device (logging them costs no host sync)."""
        out = {"loss": self.total.detach(), "loss_clean": self.clean.detach()}
        if self.noisy is not None:
            out["loss_noisy"] = self.noisy.detach()
        if self.kl is not None:
            out["loss_kl"] = self.kl.detach()
        return out

    def as_floats(self) -> dict[str, float]:
        return {key: float(value) for key, value in self.as_tensors().items()}


def pin_loss(
    clean_logits: torch.Tensor,
    labels: torch.Tensor,
    cfg: LossConfig,
    noisy_logits: torch.Tensor | None = None,
    kl: torch.Tensor | None = None,
) -> LossTerms:
    """Combine the terms.

    Args:
        clean_logits: `[N]` logits of the clean features.
        labels: `[N]` 0 = real, 1 = fake.
        cfg: the term weights.
        noisy_logits: `[K, N]` logits of the K noisy copies, or None (noise mode `none`).
        kl: KL of the noise distribution to N(0, I), or None (no learned noise).
    """
    target = labels.to(clean_logits.dtype)
    clean = F.binary_cross_entropy_with_logits(clean_logits.float(), target.float())
    total = cfg.clean_weight * clean
    noisy = None
    if noisy_logits is not None:
        expanded = target.float().unsqueeze(0).expand_as(noisy_logits)
        # mean over samples and images == mean over K of the per-sample BCE
        noisy = F.binary_cross_entropy_with_logits(noisy_logits.float(), expanded)
        total = total + cfg.noisy_weight * noisy
    if kl is not None:
        kl = kl.float()
        if cfg.kl_weight > 0:
            total = total + cfg.kl_weight * kl
    return LossTerms(total=total, clean=clean, noisy=noisy, kl=kl)
