"""Detection heads: image embedding -> one logit (log-odds of "fake").

`linear` is a `Linear(d, 1)` trained with BCE (the group's DGS-Net / AIGIBench convention).
`cosine` scores the L2-normalised embedding against the cached real/fake prompt embeddings like
zero-shot CLIP; its logit is `scale * (cos(f, fake) - cos(f, real))`, which equals the log-odds of the
two-class softmax, so sigmoid(logit) = p_fake in both heads.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def unit_vectors(x: torch.Tensor) -> torch.Tensor:
    """`x` L2-normalised along its last dim (as `F.normalize`), written as sqrt of a sum of squares
    and a broadcast division: the ReduceL2 and Expand that `F.normalize` exports to defeat
    onnxruntime's symbolic shape inference, which INT8 quantisation runs first."""
    return x / (x * x).sum(dim=-1, keepdim=True).sqrt().clamp_min(1e-12)


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
        cos = unit_vectors(features) @ unit_vectors(prompts.to(features.dtype)).t()
        return self.logit_scale.exp() * (cos[..., 1] - cos[..., 0])


class FixedPromptCosineHead(nn.Module):
    """`CosineHead` with its prompts fixed, for export: the unit prompts `[D, 2]` are one buffer.

    Given constant prompts, exporters fold `normalize(prompts).t()` into a new graph constant that
    matches no module tensor; holding the folded matrix as the buffer keeps every graph tensor one of
    the module's. Same arithmetic as `CosineHead` (normalise, matmul, scaled difference).
    """

    def __init__(self, logit_scale: torch.Tensor, prompts: torch.Tensor) -> None:
        super().__init__()
        self.logit_scale = nn.Parameter(logit_scale.detach().clone(), requires_grad=False)
        self.register_buffer("unit_prompts", unit_vectors(prompts.detach().float()).t().contiguous())

    def forward(self, features: torch.Tensor, prompts: torch.Tensor | None = None) -> torch.Tensor:
        cos = unit_vectors(features) @ self.unit_prompts.to(features.dtype)
        return self.logit_scale.exp() * (cos[..., 1] - cos[..., 0])


def with_fixed_prompts(head: nn.Module, prompts: torch.Tensor | None) -> nn.Module:
    """The head to deploy: a `CosineHead` gets its prompts folded in; other heads are returned as-is."""
    if isinstance(head, CosineHead) and prompts is not None:
        return FixedPromptCosineHead(head.logit_scale, prompts)
    return head


def build_head(kind: str, dim: int, logit_scale: float) -> nn.Module:
    """The head named by `ModelConfig.head`."""
    return LinearHead(dim) if kind == "linear" else CosineHead(logit_scale)
