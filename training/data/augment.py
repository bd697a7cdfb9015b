"""Train-time augmentation (CNNDetection style) and the exact eval transform.

Train: resize the short side with a random jitter, then Gaussian blur and JPEG re-compression each
with a probability (Wang et al. 2020, "CNN-generated images are surprisingly easy to spot... for
now": blur + JPEG augmentation is what makes detectors survive re-encoding), random (or centre)
crop and horizontal flip, then normalise with the backbone's mean/std. Every random draw uses the
torch RNG, which DataLoader seeds per worker, so a seeded run is reproducible.

Native views (`PreprocessSpec.view`, docs/views.md) never resize, so `resize_jitter` does not apply:
`crop` and `tiles` train on a random native crop of the model's input size (centred with probability
1 - crop_prob, padded with the fill colour when the image is smaller), `patches` on the mosaic with a
shuffle seed drawn per sample (the core builds it, as at evaluation), each after blur / JPEG and
followed by the flip.

Eval: `pinclip_sdk.preprocess.Preprocessor`, the C++ core that is bit-identical to open_clip's eval
transform and is what the deployed runtime runs (docs/design.md#d1-one-preprocessing-truth).
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.spec import PreprocessSpec

logger = logging.getLogger(__name__)

_RESAMPLE = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the train-time augmentations.

    Args:
        crop_prob: probability of a random crop; otherwise a centre crop.
        flip_prob: probability of a horizontal flip.
        blur_prob: probability of a Gaussian blur with sigma drawn from `blur_sigma`.
        blur_sigma: `(low, high)` standard deviation range in pixels (CNNDetection: 0 to 3).
        jpeg_prob: probability of JPEG re-compression with quality drawn from `jpeg_quality`.
        jpeg_quality: `(low, high)` quality range, inclusive (CNNDetection: 30 to 100).
        resize_jitter: `(low, high)` factor on the crop size the short side is resized to; below 1
            the crop is padded with black.
    """

    crop_prob: float = 1.0
    flip_prob: float = 0.5
    blur_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.0, 3.0)
    jpeg_prob: float = 0.1
    jpeg_quality: tuple[int, int] = (30, 100)
    resize_jitter: tuple[float, float] = (1.0, 1.15)

    def __post_init__(self) -> None:
        for name in ("crop_prob", "flip_prob", "blur_prob", "jpeg_prob"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"augment.{name} must be a probability in [0, 1], got {value!r}")
        for name, low_bound in (("blur_sigma", 0.0), ("jpeg_quality", 1), ("resize_jitter", 1e-6)):
            value = tuple(getattr(self, name))
            if len(value) != 2 or value[0] > value[1] or value[0] < low_bound:
                raise ConfigError(
                    f"augment.{name} must be (low, high) with {low_bound} <= low <= high, got {value!r}"
                )
            object.__setattr__(self, name, value)
        if self.jpeg_quality[1] > 100:
            raise ConfigError(f"augment.jpeg_quality must be within 1..100, got {self.jpeg_quality!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        """Build from a plain dict (a YAML section); unknown keys are an error, not ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"augment: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def jpeg_recompress(image: Image.Image, quality: int) -> Image.Image:
    """Encode as JPEG at `quality` and decode again (in memory)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def gaussian_blur(image: Image.Image, sigma: float) -> Image.Image:
    """Gaussian blur with standard deviation `sigma` pixels (Pillow's radius is the sigma)."""
    return image if sigma <= 0 else image.filter(ImageFilter.GaussianBlur(radius=float(sigma)))


def to_tensor(image: Image.Image, spec: PreprocessSpec) -> torch.Tensor:
    """RGB `PIL.Image` -> normalised float32 `[3, H, W]` tensor, as ToTensor + Normalize do."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255.0)
    array = (array - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class TrainTransform:
    """`PIL.Image -> Tensor[3, H, W]` with random augmentation; see the module docstring for the order."""

    def __init__(self, cfg: AugmentConfig, spec: PreprocessSpec, generator: torch.Generator | None = None):
        self.cfg = cfg
        self.spec = spec
        self.generator = generator
        self._preprocessor: Any = None

    def _draw(self, probability: float) -> bool:
        return probability > 0 and float(torch.rand((), generator=self.generator)) < probability

    def _resize(self, image: Image.Image) -> Image.Image:
        height, width = self.spec.size
        short = max(height, width) * _uniform(*self.cfg.resize_jitter, self.generator)
        scale = short / min(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return image.resize(size, _RESAMPLE[self.spec.interpolation])

    def _offset(self, spare: int, random_crop: bool) -> int:
        if spare < 0:  # image smaller than the crop: centre it, PIL pads with black
            return -((-spare) // 2)
        if random_crop:
            return int(torch.randint(spare + 1, (), generator=self.generator))
        return round(spare / 2)

    def _crop(self, image: Image.Image) -> Image.Image:
        height, width = self.spec.size
        random_crop = self._draw(self.cfg.crop_prob)
        left = self._offset(image.width - width, random_crop)
        top = self._offset(image.height - height, random_crop)
        return image.crop((left, top, left + width, top + height))

    def _native_crop(self, image: Image.Image) -> Image.Image:
        """A random (or centre) native crop of the input size, padded with the fill colour."""
        height, width = self.spec.size
        random_crop = self._draw(self.cfg.crop_prob)
        left = self._offset(image.width - width, random_crop)
        top = self._offset(image.height - height, random_crop)
        canvas = Image.new("RGB", (width, height), (self.spec.fill_color,) * 3)
        canvas.paste(
            image.crop((max(left, 0), max(top, 0), left + width, top + height)), (max(-left, 0), max(-top, 0))
        )
        return canvas

    def _mosaic(self, image: Image.Image) -> torch.Tensor:
        if self._preprocessor is None:
            from pinclip_sdk.preprocess import Preprocessor

            self._preprocessor = Preprocessor(self.spec, num_threads=1)
        seed = int(torch.randint(0, 2**62, (), generator=self.generator))
        return torch.from_numpy(self._preprocessor(image, seed=seed))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_preprocessor": None}  # a native object: rebuilt in each worker

    def _degrade(self, image: Image.Image) -> Image.Image:
        if self._draw(self.cfg.blur_prob):
            image = gaussian_blur(image, _uniform(*self.cfg.blur_sigma, self.generator))
        if self._draw(self.cfg.jpeg_prob):
            low, high = self.cfg.jpeg_quality
            image = jpeg_recompress(image, int(torch.randint(low, high + 1, (), generator=self.generator)))
        return image

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = image.convert("RGB")
        if self.spec.view == "patches":
            pixels = self._mosaic(self._degrade(image))
            return pixels.flip(-1) if self._draw(self.cfg.flip_prob) else pixels
        if self.spec.view == "resize":
            image = self._crop(self._degrade(self._resize(image)))
        else:  # crop, tiles: native pixels
            image = self._native_crop(self._degrade(image))
        if self._draw(self.cfg.flip_prob):
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        return to_tensor(image, self.spec)


def build_train_transform(
    cfg: AugmentConfig, spec: PreprocessSpec, generator: torch.Generator | None = None
) -> Callable[[Image.Image], torch.Tensor]:
    """The train-time transform; `generator` pins the RNG (default: torch's, seeded per worker)."""
    return TrainTransform(cfg, spec, generator)


class EvalTransform:
    """`PIL.Image -> Tensor[3, H, W]` through the C++ core, bit-identical to open_clip's eval transform.

    The `Preprocessor` (a native object) is built lazily in each process and not pickled, so the
    transform travels to DataLoader workers under any start method. One thread per call: the
    workers provide the parallelism.
    """

    def __init__(self, spec: PreprocessSpec) -> None:
        self.spec = spec
        self._preprocessor: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "_preprocessor": None}

    def __call__(self, image: Image.Image) -> torch.Tensor:
        if self._preprocessor is None:
            from pinclip_sdk.preprocess import Preprocessor

            self._preprocessor = Preprocessor(self.spec, num_threads=1)
        return torch.from_numpy(self._preprocessor(image))


def build_eval_transform(spec: PreprocessSpec) -> Callable[[Image.Image], torch.Tensor]:
    """open_clip's exact eval transform for `spec`, computed by `pinclip_sdk.preprocess.Preprocessor`."""
    return EvalTransform(spec)
