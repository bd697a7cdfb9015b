"""Helpers for the data / evaluation tests: stand-in models with known behaviour."""

from __future__ import annotations

import torch
from torch import nn

from pinclip_sdk.spec import PreprocessSpec


class HighFrequencyModel(nn.Module):
    """Scores high-frequency energy (the generated fakes' grid): strong on clean images, blinded by blur.

    `forward_features` -> mean absolute horizontal+vertical pixel difference `[N, 1]`;
    `forward_head` -> a logit centred at `centre`. Records the modes it was called in.
    """

    def __init__(self, centre: float = 0.2, scale: float = 20.0) -> None:
        super().__init__()
        self.centre = nn.Parameter(torch.tensor(float(centre)), requires_grad=False)
        self.scale = scale
        self.calls_in_training_mode: list[bool] = []
        self.preprocess_spec = PreprocessSpec(size=32)

    def forward_features(self, pixels: torch.Tensor) -> torch.Tensor:
        self.calls_in_training_mode.append(self.training)
        dx = (pixels[..., :, 1:] - pixels[..., :, :-1]).abs().mean(dim=(1, 2, 3))
        dy = (pixels[..., 1:, :] - pixels[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        return ((dx + dy) / 2).unsqueeze(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return (features[:, 0] - self.centre) * self.scale
