"""The positive-incentive noise generator (PiN-CLIP's "cross-attention fusion" of image and prompts).

The visual feature is the query; the cached class-prompt embeddings are the keys and values. The
fused vector gives the mean and a strictly positive standard deviation of a Gaussian in feature
space, sampled with the reparameterisation trick: noise = mu + sigma * eps, eps ~ N(0, I).
Layout from PiNI's `ImageVpnGenerator` (hyzhang98/PiNI trainers/clip_vpn.py; see
docs/references.md#noise-generator): q/k/v linears, softmax(q k^T) without sqrt(d), no residual,
sigma = |.|, PyTorch's default init. Each of those is a config choice (`NoiseConfig`).

Units: with `sigma_scale = feature_std`, mu and sigma are in units of `FeatureScale`, the clean
features' per-dimension running std, so sigma = 0.5 means half the spread the features have in
that dimension whatever the backbone or injection point; with `absolute`, in feature units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from pinclip_sdk.training.config import NoiseConfig

NEAR_ZERO_SIGMA = 0.018  # init = near_zero: sigma starts about here (softplus(-4) = 0.018)


@dataclass
class NoiseParams:
    """Per-feature Gaussian parameters, shaped like the feature they perturb.

    `unit` is what sigma is measured in (the features' running std, broadcast over the feature's
    leading dims), or None for absolute units; `prior_scale * unit` is the KL prior's std.
    """

    mean: torch.Tensor
    std: torch.Tensor
    unit: torch.Tensor | None = None
    prior_scale: float = 1.0

    def sample(self, num_samples: int) -> torch.Tensor:
        """`[K, *shape]` reparameterised samples mean + std * eps (differentiable in mean and std)."""
        eps = torch.randn((num_samples, *self.mean.shape), device=self.mean.device, dtype=self.mean.dtype)
        return self.mean.unsqueeze(0) + self.std.unsqueeze(0) * eps

    def kl_to_prior(self) -> torch.Tensor:
        """KL(N(mean, std^2) || N(0, (prior_scale * unit)^2)) summed over the feature dim, averaged
        over everything else (a unit Gaussian prior in absolute units)."""
        tau = self.prior_scale * (self.unit if self.unit is not None else torch.ones_like(self.std))
        ratio = (self.std / tau).pow(2)
        kl = 0.5 * ((self.mean / tau).pow(2) + ratio - 1.0 - torch.log(ratio))
        return kl.sum(dim=-1).mean()

    def relative_std(self) -> torch.Tensor:
        """Mean of sigma / feature std (sigma itself in absolute units when there is no unit)."""
        std = self.std.detach().float()
        return (std / self.unit.detach().float()).mean() if self.unit is not None else std.mean()


class FeatureScale(nn.Module):
    """Per-dimension running std of the clean features: the unit of sigma and mu.

    Updated from every training batch (an exponential moving average; the first batch sets it)
    without a host sync; under DDP the batch moments are all-reduced first, so every rank holds
    the same scale as one process on the global batch would. Frozen in eval mode.
    """

    def __init__(self, dim: int, momentum: float = 0.05) -> None:
        super().__init__()
        self.dim, self.momentum = dim, momentum
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The current unit `[dim]` (after folding in `features` when training)."""
        if self.training:
            with torch.no_grad():
                self._update(features.detach().reshape(-1, self.dim).float())
        return self.std.to(features.dtype)

    def join(self) -> None:
        """Under DDP, the update of a rank whose batch came out empty (every image unreadable):
        it takes part in the other ranks' all-reduce with nothing to add."""
        if _world_size() > 1:
            self._update(torch.zeros((0, self.dim), device=self.std.device))

    def _update(self, flat: torch.Tensor) -> None:
        moments = torch.stack(
            [flat.sum(0), flat.pow(2).sum(0), torch.full_like(self.std, float(flat.shape[0]))]
        )
        if _world_size() > 1:
            dist.all_reduce(moments)
        total, squares, n = moments
        seen = n.clamp_min(1.0)
        var = (squares / seen - (total / seen).pow(2)).clamp_min(0.0)
        batch_std = var.sqrt().clamp_min(1e-6)
        # the first batch sets the scale; a batch that no rank filled changes nothing (no host sync)
        weight = torch.where(self.updates == 0, 1.0, self.momentum) * (n >= 2)
        self.std.copy_(self.std + weight * (batch_std - self.std))
        self.updates.add_((n[0] >= 2).long())


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def learns_mean(cfg: NoiseConfig) -> bool:
    """Whether the generator has a mean head: never with label conditioning, where mu could carry
    the label into the noisy logit (VPN fixes mu = 0 for that reason)."""
    return cfg.mean == "learned" and cfg.conditioning != "label"


class NoiseGenerator(nn.Module):
    """Cross-attention from a feature (query) to the prompt embeddings (keys/values) -> (mean, std).

    Args:
        feature_dim: size of the feature the noise is added to.
        context_dim: size of the prompt embeddings.
        cfg: hidden width, fusion, scaling, the std parameterisation and the init.
    """

    def __init__(self, feature_dim: int, context_dim: int, cfg: NoiseConfig) -> None:
        super().__init__()
        hidden = cfg.hidden_dim or feature_dim
        self.cfg = cfg
        self.q = nn.Linear(feature_dim, hidden)
        self.k = nn.Linear(context_dim, hidden)
        self.v = nn.Linear(context_dim, hidden)
        self.fc_mean = nn.Linear(hidden, feature_dim) if learns_mean(cfg) else None
        self.fc_std = nn.Linear(hidden, feature_dim)
        self.scale = 1.0 / math.sqrt(hidden) if cfg.scaled_attention else 1.0
        if cfg.init == "near_zero":
            # start close to "no noise": training begins from the clean model
            if self.fc_mean is not None:
                nn.init.zeros_(self.fc_mean.weight)
                nn.init.zeros_(self.fc_mean.bias)
            nn.init.normal_(self.fc_std.weight, std=1e-3)
            if cfg.sigma_max is not None or cfg.sigma_activation == "softplus":
                nn.init.constant_(self.fc_std.bias, -4.0)
            else:
                nn.init.constant_(self.fc_std.bias, NEAR_ZERO_SIGMA)

    def forward(
        self,
        features: torch.Tensor,
        prompts: torch.Tensor,
        labels: torch.Tensor | None = None,
        unit: torch.Tensor | None = None,
    ) -> NoiseParams:
        """Noise parameters for `features` `[..., feature_dim]` given prompts `[C, context_dim]`.

        With `conditioning = label`, each feature attends only to its true class prompt (`labels`).
        `unit` (`[feature_dim]`) scales mu and sigma (`sigma_scale = feature_std`).
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
        raw = self.fc_std(fused)
        floor = self.cfg.sigma_floor
        if self.cfg.sigma_max is not None:
            std = floor + (self.cfg.sigma_max - floor) * torch.sigmoid(raw)
        elif self.cfg.sigma_activation == "softplus":
            std = F.softplus(raw) + floor
        else:
            std = raw.abs() + floor
        mean = self.fc_mean(fused) if self.fc_mean is not None else torch.zeros_like(std)
        if unit is not None:
            mean, std = mean * unit, std * unit
        return NoiseParams(mean=mean, std=std, unit=unit, prior_scale=self.cfg.prior_scale)


def fixed_noise(features: torch.Tensor, sigma: float, unit: torch.Tensor | None = None) -> NoiseParams:
    """The `random` ablation: zero mean, std `sigma` (times `unit`), no parameters."""
    std = torch.full_like(features, sigma)
    if unit is not None:
        std = std * unit
    return NoiseParams(mean=torch.zeros_like(features), std=std, unit=unit)
