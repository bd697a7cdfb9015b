"""`PreprocessSpec`: how an image becomes the model's input tensor.

The spec is data: it is written into model bundles and read back by the runtime, so train-time
evaluation, INT8 calibration and deployment all preprocess the same way. It mirrors open_clip's
`PreprocessCfg` for the eval transform.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any

from pinclip_sdk.errors import ConfigError

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RESIZE_MODES = ("shortest", "longest", "squash")
INTERPOLATIONS = ("bicubic", "bilinear")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _as_size(size: Any) -> tuple[int, int]:
    if _is_int(size):
        size = (size, size)
    # a string is a sequence too: "32" must not become (3, 2)
    if isinstance(size, (str, bytes)) or not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ConfigError(f"PreprocessSpec.size must be an int or (height, width), got {size!r:.80}")
    if not all(_is_int(v) for v in size):
        raise ConfigError(f"PreprocessSpec.size must hold integers, got {size!r:.80}")
    height, width = int(size[0]), int(size[1])
    if height < 1 or width < 1:
        raise ConfigError(f"PreprocessSpec.size must be positive, got {(height, width)}")
    return height, width


def _as_triple(name: str, value: Any) -> tuple[float, float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise ConfigError(f"PreprocessSpec.{name} must be three numbers, got {value!r:.80}")
    try:
        triple = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"PreprocessSpec.{name} must be three numbers, got {value!r:.80}") from None
    if not all(math.isfinite(v) for v in triple):
        raise ConfigError(f"PreprocessSpec.{name} must be finite, got {triple}")
    if len(triple) == 1:
        triple = triple * 3
    if len(triple) != 3:
        raise ConfigError(f"PreprocessSpec.{name} must have 3 values (R, G, B), got {len(triple)}")
    return triple  # type: ignore[return-value]


@dataclass(frozen=True)
class PreprocessSpec:
    """Eval-time preprocessing of the CLIP backbone, as open_clip defines it.

    Args:
        size: output `(height, width)`; an int means a square.
        resize_mode: `shortest` (resize the short side, centre crop), `longest` (fit inside, pad with
            `fill_color`) or `squash` (resize to `size`, aspect ratio not kept).
        interpolation: `bicubic` or `bilinear` (Pillow's antialiased filters).
        mean: per-channel mean subtracted after scaling to [0, 1].
        std: per-channel standard deviation divided by.
        fill_color: padding value (0-255) for `longest` and for crops larger than the image.
        exif_transpose: rotate / flip each decoded image by its EXIF orientation tag before
            preprocessing. Off by default, as in open_clip (which scores the stored pixels); set it
            when training does, and the bundle carries it so the runtime does the same.
    """

    size: tuple[int, int] = (224, 224)
    resize_mode: str = "shortest"
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    std: tuple[float, float, float] = OPENAI_CLIP_STD
    fill_color: int = 0
    exif_transpose: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", _as_size(self.size))
        object.__setattr__(self, "mean", _as_triple("mean", self.mean))
        object.__setattr__(self, "std", _as_triple("std", self.std))
        if self.resize_mode not in RESIZE_MODES:
            raise ConfigError(f"PreprocessSpec.resize_mode {self.resize_mode!r} is not one of {RESIZE_MODES}")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"PreprocessSpec.interpolation {self.interpolation!r} is not one of {INTERPOLATIONS}"
            )
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"PreprocessSpec.std must be positive, got {self.std}")
        if not _is_int(self.fill_color) or not 0 <= self.fill_color <= 255:
            raise ConfigError(f"PreprocessSpec.fill_color must be an int in 0..255, got {self.fill_color!r}")
        if not isinstance(self.exif_transpose, bool):
            raise ConfigError(
                f"PreprocessSpec.exif_transpose must be true or false, got {self.exif_transpose!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as written into bundle manifests."""
        data = asdict(self)
        data["size"] = list(self.size)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        if not self.exif_transpose:
            del data["exif_transpose"]  # the default: manifests stay readable by runtimes before it existed
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        """Inverse of `to_dict`; unknown keys are an error (they would be silently ignored otherwise)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"PreprocessSpec: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PreprocessSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_open_clip(cls, model_name: str, pretrained: str | None = None) -> PreprocessSpec:
        """The eval preprocessing open_clip uses for `model_name` (and `pretrained` tag, if given).

        Needs `open_clip_torch` (the `train` extra). Reads the config only: no weights are loaded.
        """
        try:
            import open_clip
        except ImportError as exc:
            from pinclip_sdk.errors import BackendUnavailableError

            raise BackendUnavailableError(
                "PreprocessSpec.from_open_clip needs open_clip; install pinclip-sdk[train]"
            ) from exc
        model_cfg = open_clip.get_model_config(model_name)
        if model_cfg is None:
            known = ", ".join(sorted(open_clip.list_models())[:10])
            raise ConfigError(f"Unknown open_clip model {model_name!r} (known include: {known}, ...)")
        image_size = model_cfg.get("vision_cfg", {}).get("image_size", 224)
        cfg: dict[str, Any] = {"size": image_size}
        if pretrained:
            from open_clip.pretrained import get_pretrained_cfg

            tag_cfg = get_pretrained_cfg(model_name, pretrained) or {}
            for key in ("mean", "std", "interpolation", "resize_mode"):
                if tag_cfg.get(key) is not None:
                    cfg[key] = tag_cfg[key]
        from open_clip.transform import PreprocessCfg

        preprocess_cfg = PreprocessCfg(**cfg)
        return cls(
            size=preprocess_cfg.size,
            resize_mode=preprocess_cfg.resize_mode,
            interpolation=preprocess_cfg.interpolation,
            mean=preprocess_cfg.mean,
            std=preprocess_cfg.std,
            fill_color=preprocess_cfg.fill_color,
        )
