"""Detection heads: image embedding -> one logit (log-odds of "fake").

`linear` is a `Linear(d, 1)` trained with BCE (the group's DGS-Net / AIGIBench convention).
`cosine` scores the L2-normalised embedding against the cached real/fake prompt embeddings like
zero-shot CLIP; its logit is `scale * (cos(f, fake) - cos(f, real))`, which equals the log-odds of the
two-class softmax, so sigmoid(logit) = p_fake in both heads.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LinearHead(nn.Module):
    """One logit from a linear layer."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, 1)

    def forward(self, features: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        return self.fc(features).squeeze(-1)


class CosineHead(nn.Module):
    """CLIP-style logits against the prompts, reduced to the fake-vs-real log-odds."""

    def __init__(self, logit_scale: float = math.log(100.0)) -> None:
        super().__init__()
        # Stored in log space, as in CLIP; initialised from the backbone's learned temperature.
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale)))

    def forward(self, features: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        f = F.normalize(features, dim=-1)
        p = F.normalize(prompts.to(features.dtype), dim=-1)
        cos = f @ p.t()
        return self.logit_scale.exp() * (cos[..., 1] - cos[..., 0])


def build_head(kind: str, dim: int, logit_scale: float) -> nn.Module:
    """The head named by `ModelConfig.head`."""
    return LinearHead(dim) if kind == "linear" else CosineHead(logit_scale)
