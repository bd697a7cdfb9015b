"""Small generative models, one per family, whose outputs are the proxy benchmark's fakes.

Each family leaves a different fingerprint, as real generators do: the four autoencoders differ only
in how their decoder upsamples (transposed convolution, pixel shuffle, bilinear or nearest-neighbour
interpolation followed by a convolution), and the denoiser synthesises by iterative denoising from a
noised source, in the spirit of diffusion sampling (SDEdit). All are trained with an L1 + image-
gradient loss, which keeps their outputs about as sharp as the reals (checked by `sharpness`).
Images are float tensors [N, 3, H, W] in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

WIDTH = 32  # feature channels
# Bottleneck channels at half resolution: 8 * (H/2) * (W/2) = 2/3 of the input values, so the autoencoders
# must compress, as real generators do, and leave traces a detector can learn in the quickstart's budget.
# Measured (tiny ViT, 2400 steps, seed 0, JPEG q75-95): 32 channels (8/3 of the input: the net can copy
# its input) gave trained-family AP 88.2; 8 channels 96.3; 4 channels 97.1 but visibly softer fakes.
LATENT = 8
GRADIENT_WEIGHT = 5.0  # weight of the image-gradient term; lower values give visibly softer fakes
DENOISER_SIGMA_MAX = 0.1  # noise level the denoiser's sampler starts from (pixels in [0, 1])
DENOISER_STEPS = 6


def reconstruction_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on pixels plus L1 on horizontal and vertical differences (penalises lost detail)."""
    loss = (output - target).abs().mean()
    for dim in (-1, -2):
        loss = loss + GRADIENT_WEIGHT * (output.diff(dim=dim) - target.diff(dim=dim)).abs().mean()
    return loss


class ProxyGenerator(nn.Module):
    """A generator family: how it is trained on real crops and how it turns a source into a fake."""

    def training_loss(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def synthesize(self, sources: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


def _upsampler(kind: str, channels: int) -> nn.Module:
    if kind == "tconv":
        return nn.ConvTranspose2d(channels, channels, kernel_size=4, stride=2, padding=1)
    if kind == "pixelshuffle":
        return nn.Sequential(nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2))
    mode = {"bilinear": "bilinear", "nearest": "nearest"}[kind]
    align = False if mode == "bilinear" else None
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode=mode, align_corners=align),
        nn.Conv2d(channels, channels, 3, padding=1),
    )


class UpsamplingAutoencoder(ProxyGenerator):
    """Encoder to a half-resolution latent, decoder back up with the family's upsampler."""

    def __init__(self, upsampler: str) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, WIDTH, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(WIDTH, WIDTH, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(WIDTH, LATENT, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(LATENT, WIDTH, 3, padding=1),
            nn.GELU(),
            _upsampler(upsampler, WIDTH),
            nn.GELU(),
            nn.Conv2d(WIDTH, 3, 3, padding=1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))

    def training_loss(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return reconstruction_loss(self(images), images)

    def synthesize(self, sources: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self(sources)


class IterativeDenoiser(ProxyGenerator):
    """A noise-level-conditioned conv denoiser sampled SDEdit-style.

    Training: x + sigma * eps -> x for sigma = DENOISER_SIGMA_MAX * u^2, u ~ U(0, 1). Sampling: noise
    the source to sigma_max, then alternate "denoise" and "re-noise to the next, lower level" down to zero.
    """

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(4, WIDTH, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(WIDTH, WIDTH, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(WIDTH, WIDTH, 3, padding=2, dilation=2),
            nn.GELU(),
            nn.Conv2d(WIDTH, 3, 3, padding=1),
        )

    def forward(self, noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        level = sigma.view(-1, 1, 1, 1).expand(noisy.shape[0], 1, *noisy.shape[2:])
        return noisy - self.net(torch.cat([noisy, level / DENOISER_SIGMA_MAX], dim=1))

    def training_loss(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # u^2 puts more training on the low noise levels of the last sampling steps, which set sharpness
        sigma = torch.rand(images.shape[0], generator=generator).square() * DENOISER_SIGMA_MAX
        noise = torch.randn(images.shape, generator=generator)
        return reconstruction_loss(self(images + sigma.view(-1, 1, 1, 1) * noise, sigma), images)

    def synthesize(self, sources: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        levels = torch.linspace(DENOISER_SIGMA_MAX, 0.0, DENOISER_STEPS + 1)
        current = sources + levels[0] * torch.randn(sources.shape, generator=generator)
        estimate = sources
        for step in range(DENOISER_STEPS):
            estimate = self(current, levels[step].expand(sources.shape[0]))
            current = estimate + levels[step + 1] * torch.randn(sources.shape, generator=generator)
        return estimate


GENERATOR_FACTORIES: dict[str, Callable[[], ProxyGenerator]] = {
    "tconv": lambda: UpsamplingAutoencoder("tconv"),
    "pixelshuffle": lambda: UpsamplingAutoencoder("pixelshuffle"),
    "bilinear": lambda: UpsamplingAutoencoder("bilinear"),
    "nearest": lambda: UpsamplingAutoencoder("nearest"),
    "denoiser": IterativeDenoiser,
}
