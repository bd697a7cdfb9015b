"""The positive-incentive noise generator (PiN-CLIP's "cross-attention fusion" of image and prompts).

The visual feature is the query; the cached class-prompt embeddings are the keys and values. The
fused vector gives the mean and a strictly positive standard deviation of a Gaussian in feature
space, sampled with the reparameterisation trick: noise = mu + sigma * eps, eps ~ N(0, I).
Layout adapted from PiNI's `ImageVpnGenerator` (hyzhang98/PiNI trainers/clip_vpn.py; see
docs/references.md#noise-generator). Differences, all configurable: sigma = softplus + floor
instead of `abs()` (never exactly 0, smooth gradient), optional sqrt(d) scaling, and a residual
fusion (query + attended prompts) so the noise depends on the image beyond a prompt mixture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pinclip_sdk.training.config import NoiseConfig


@dataclass
class NoiseParams:
    """Per-feature Gaussian parameters, shaped like the feature they perturb."""

    mean: torch.Tensor
    std: torch.Tensor

    def sample(self, num_samples: int) -> torch.Tensor:
        """`[K, *shape]` reparameterised samples mean + std * eps (differentiable in mean and std)."""
        eps = torch.randn((num_samples, *self.mean.shape), device=self.mean.device, dtype=self.mean.dtype)
        return self.mean.unsqueeze(0) + self.std.unsqueeze(0) * eps

    def kl_to_standard_normal(self) -> torch.Tensor:
        """KL(N(mean, std^2) || N(0, I)) summed over the feature dim, averaged over everything else."""
        var = self.std.pow(2)
        kl = 0.5 * (self.mean.pow(2) + var - 1.0 - torch.log(var))
        return kl.sum(dim=-1).mean()


class NoiseGenerator(nn.Module):
    """Cross-attention from a feature (query) to the prompt embeddings (keys/values) -> (mean, std).

    Args:
        feature_dim: size of the feature the noise is added to.
        context_dim: size of the prompt embeddings.
        cfg: hidden width, fusion, scaling and the std parameterisation.
    """

    def __init__(self, feature_dim: int, context_dim: int, cfg: NoiseConfig) -> None:
        super().__init__()
        hidden = cfg.hidden_dim or feature_dim
        self.cfg = cfg
        self.q = nn.Linear(feature_dim, hidden)
        self.k = nn.Linear(context_dim, hidden)
        self.v = nn.Linear(context_dim, hidden)
        self.fc_mean = nn.Linear(hidden, feature_dim)
        self.fc_std = nn.Linear(hidden, feature_dim)
        self.scale = 1.0 / math.sqrt(hidden) if cfg.scaled_attention else 1.0
        # Start close to "no noise": mean ~ 0 and std ~ floor + softplus(-4) ~ 0.018, so training begins
        # from the clean model and the generator learns how much noise helps.
        nn.init.zeros_(self.fc_mean.weight)
        nn.init.zeros_(self.fc_mean.bias)
        nn.init.normal_(self.fc_std.weight, std=1e-3)
        nn.init.constant_(self.fc_std.bias, -4.0)

    def forward(
        self, features: torch.Tensor, prompts: torch.Tensor, labels: torch.Tensor | None = None
    ) -> NoiseParams:
        """Noise parameters for `features` `[..., feature_dim]` given prompts `[C, context_dim]`.

        With `conditioning = label`, each feature attends only to its true class prompt (`labels`).
        """
        if self.cfg.detach_input:
            features = features.detach()
        prompts = prompts.to(features.dtype)
        q = self.q(features)
        k, v = self.k(prompts), self.v(prompts)
        scores = (q @ k.t()) * self.scale  # [..., C]
        if self.cfg.conditioning == "label":
            if labels is None:
                raise ValueError("NoiseGenerator: conditioning='label' needs the labels")
            onehot = F.one_hot(labels.long(), num_classes=prompts.shape[0]).bool()
            while onehot.dim() < scores.dim():
                onehot = onehot.unsqueeze(1)
            scores = scores.masked_fill(~onehot, float("-inf"))
        fused = scores.softmax(dim=-1) @ v
        if self.cfg.fusion == "residual":
            fused = fused + q
        mean = self.fc_mean(fused)
        raw = self.fc_std(fused)
        floor = self.cfg.sigma_floor
        if self.cfg.sigma_max is None:
            std = F.softplus(raw) + floor
        else:
            std = floor + (self.cfg.sigma_max - floor) * torch.sigmoid(raw)
        return NoiseParams(mean=mean, std=std)


def fixed_noise(features: torch.Tensor, sigma: float) -> NoiseParams:
    """The `random` ablation: zero mean, constant std, no parameters."""
    return NoiseParams(mean=torch.zeros_like(features), std=torch.full_like(features, sigma))
