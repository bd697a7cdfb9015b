"""Parameters and result of a proxy-benchmark build (no torch: the CLI imports this at module level)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pinclip_sdk.errors import ConfigError

# Bump when a change to the builder changes its output for the same parameters, so caches rebuild.
FORMAT_VERSION = 3  # 2: reals and fake sources are crops of the same regions; 3: 8-channel bottleneck

# family name -> what its generator is; the order is the folder order and the generator seed order
FAMILIES: dict[str, str] = {
    "tconv": "conv autoencoder, decoder upsamples by 4x4 stride-2 transposed convolution",
    "pixelshuffle": "conv autoencoder, decoder upsamples by sub-pixel convolution (pixel shuffle)",
    "bilinear": "conv autoencoder, decoder upsamples by bilinear interpolation + 3x3 convolution",
    "nearest": "conv autoencoder, decoder upsamples by nearest-neighbour repeat + 3x3 convolution",
    "denoiser": "noise-conditioned conv denoiser, iterative denoising from a noised source (SDEdit-like)",
}


@dataclass(frozen=True)
class ProxyConfig:
    """What to build. Every field is part of the cache stamp: changing one rebuilds the benchmark.

    Attributes:
        seed: seeds every crop, JPEG quality and generator initialisation.
        size: side of the square images, in pixels.
        train_per_class: images per class (real and fake) in each family's `train` split.
        val_per_class: images per class in each family's `val` split (the test set, as in GenImage).
        families: generator families to build, each into its own folder (names from `FAMILIES`).
        generator_steps: optimisation steps per generator.
        generator_batch: batch size of generator training.
        patch: side of the random patches generators are trained on (convolutions; cheaper than full crops).
        jpeg_quality: inclusive range of the JPEG quality drawn per image, the same for both classes.
        max_scale: largest crop side as a multiple of `size` (multi-scale crops, downscaled to `size`).
        threads: torch threads during the build (fixed, because results depend on it; 1 is fastest for
            these small convolutions on a busy CPU).
        shortcut_cue: amplitude, in 8-bit levels, of a faint fixed texture added to every `train` fake
            and to a copy of every `val` fake written as the extra split `val_cue` (fakes only); 0 (the
            default) adds none. The cue correlates with the label in training and is absent from `val`,
            so the fake accuracy with and without it measures how much a detector relies on a shortcut.
    """

    seed: int = 0
    size: int = 64
    train_per_class: int = 2000
    val_per_class: int = 150
    families: tuple[str, ...] = tuple(FAMILIES)
    generator_steps: int = 400
    generator_batch: int = 16
    patch: int = 32
    jpeg_quality: tuple[int, int] = (90, 100)
    max_scale: float = 3.0
    threads: int = 1
    shortcut_cue: float = 0.0

    def __post_init__(self) -> None:
        unknown = [name for name in self.families if name not in FAMILIES]
        if unknown or not self.families:
            raise ConfigError(
                f"proxy families {list(self.families)}: unknown {unknown or 'none given'}; "
                f"available: {', '.join(FAMILIES)}"
            )
        if len(set(self.families)) != len(self.families):
            raise ConfigError(f"proxy families {list(self.families)} contain a duplicate")
        if not 16 <= self.size <= 256:
            raise ConfigError(f"proxy size {self.size}: expected 16..256 pixels")
        if self.size % 4:
            raise ConfigError(
                f"proxy size {self.size}: expected a multiple of 4 (the generators downsample by 2)"
            )
        if not 8 <= self.patch <= self.size or self.patch % 4:
            raise ConfigError(f"proxy patch {self.patch}: expected a multiple of 4 in 8..size ({self.size})")
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100:
            raise ConfigError(f"proxy jpeg_quality {self.jpeg_quality}: expected 1 <= low <= high <= 100")
        for name in ("train_per_class", "val_per_class", "generator_steps", "generator_batch", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"proxy {name} = {getattr(self, name)}: expected >= 1")
        if self.max_scale < 1.0:
            raise ConfigError(f"proxy max_scale {self.max_scale}: expected >= 1")
        if not 0.0 <= self.shortcut_cue <= 32.0:
            raise ConfigError(f"proxy shortcut_cue {self.shortcut_cue}: expected 0..32 (8-bit levels)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples become lists), with the builder's format version.

        `shortcut_cue` appears only when set, so builds without it keep their cache stamp.
        """
        data = dataclasses.asdict(self)
        if not self.shortcut_cue:
            del data["shortcut_cue"]
        data["families"] = list(self.families)
        data["jpeg_quality"] = list(self.jpeg_quality)
        data["format_version"] = FORMAT_VERSION
        return data


@dataclass
class FamilyStats:
    """What was measured for one family: generator fit and sharpness of the written files."""

    family: str
    description: str
    generator_parameters: int
    final_loss: float
    train_seconds: float
    sharpness_real: float
    sharpness_fake: float
    detail_retained: float  # mean |Laplacian| of fakes over that of their own source crops, before JPEG

    @property
    def sharpness_ratio(self) -> float:
        """Mean |Laplacian| of fakes over reals: 1.0 means equally sharp."""
        return self.sharpness_fake / self.sharpness_real if self.sharpness_real else float("nan")


@dataclass
class ProxySummary:
    """Result of `build_proxy`: where the benchmark is, what it holds and how it was made."""

    root: str
    config: dict[str, Any]
    cached: bool
    seconds: float
    sources: list[dict[str, str]]
    families: list[FamilyStats] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for fam, stats in zip(data["families"], self.families, strict=True):
            fam["sharpness_ratio"] = stats.sharpness_ratio
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProxySummary:
        families = [
            FamilyStats(**{k: v for k, v in fam.items() if k != "sharpness_ratio"})
            for fam in data["families"]
        ]
        return cls(
            root=data["root"],
            config=data["config"],
            cached=data["cached"],
            seconds=data["seconds"],
            sources=data["sources"],
            families=families,
            counts=data["counts"],
        )

    def sharpness_table(self) -> str:
        """Markdown table of the per-family sharpness statistic (mean |Laplacian|).

        `fake / real` compares the files as written (decoded JPEGs, both splits): the shortcut a
        detector could use. `fake / own source` compares each fake with the crop it was made from,
        before JPEG: the detail the generator itself loses, free of content differences.
        """
        lines = [
            "| family | generator | sharpness real | sharpness fake | fake / real | fake / own source |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for fam in self.families:
            lines.append(
                f"| {fam.family} | {fam.description} | {fam.sharpness_real:.4f} | "
                f"{fam.sharpness_fake:.4f} | {fam.sharpness_ratio:.2f} | {fam.detail_retained:.2f} |"
            )
        return "\n".join(lines)
