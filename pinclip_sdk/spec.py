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
# What part of the image the model sees (docs/views.md): open_clip's resize, a native-resolution
# centre crop, a grid of native crops scored together, or the patch-selection mosaic.
VIEWS = ("resize", "crop", "tiles", "patches")
TILE_REDUCTIONS = ("mean", "max")
MAX_TILES_PER_SIDE = 8
PATCH_SIZES = (2, 4, 8, 16, 32, 64, 128)  # powers of two: the core's spectral entropy is a radix-2 FFT
# The fields that only one view reads, with their defaults; `to_dict` writes them only for that view.
_VIEW_FIELDS = {"tiles": ("tile_grid", "tile_reduce"), "patches": ("patch_size", "view_seed")}


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
        view: `resize` (open_clip's transform, the modes above), `crop` (a native-resolution centre
            crop of `size`, torchvision `CenterCrop` offsets, padded with `fill_color`), `tiles`
            (`tile_grid` native crops spread evenly over the image, scored as a batch and reduced to
            one logit by `tile_reduce`) or `patches` (the patch-selection mosaic: the `patch_size`
            patches of lowest and highest spectral entropy, shuffled with `view_seed`). The other
            views ignore `resize_mode` and `interpolation`: they never resample.
        tile_grid: `(rows, cols)` of the `tiles` view, 1..8 each.
        tile_reduce: `mean` or `max` of the tiles' logits (`tiles` view).
        patch_size: side of the mosaic's patches (`patches` view); must divide both sides of `size`.
        view_seed: seed of the mosaic's shuffle at evaluation (`patches` view); training draws one
            per sample.
    """

    size: tuple[int, int] = (224, 224)
    resize_mode: str = "shortest"
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    std: tuple[float, float, float] = OPENAI_CLIP_STD
    fill_color: int = 0
    exif_transpose: bool = False
    view: str = "resize"
    tile_grid: tuple[int, int] = (2, 2)
    tile_reduce: str = "mean"
    patch_size: int = 32
    view_seed: int = 0

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
        self._check_view()

    def _check_view(self) -> None:
        if self.view not in VIEWS:
            raise ConfigError(f"PreprocessSpec.view {self.view!r} is not one of {VIEWS}")
        grid = self.tile_grid
        if isinstance(grid, (str, bytes)) or not isinstance(grid, (tuple, list)) or len(grid) != 2:
            raise ConfigError(f"PreprocessSpec.tile_grid must be (rows, cols), got {grid!r:.80}")
        if not all(_is_int(v) and 1 <= v <= MAX_TILES_PER_SIDE for v in grid):
            raise ConfigError(
                f"PreprocessSpec.tile_grid must hold two ints in 1..{MAX_TILES_PER_SIDE}, got {grid!r:.80}"
            )
        object.__setattr__(self, "tile_grid", (int(grid[0]), int(grid[1])))
        if self.tile_reduce not in TILE_REDUCTIONS:
            raise ConfigError(
                f"PreprocessSpec.tile_reduce {self.tile_reduce!r} is not one of {TILE_REDUCTIONS}"
            )
        if not _is_int(self.patch_size) or self.patch_size not in PATCH_SIZES:
            raise ConfigError(
                f"PreprocessSpec.patch_size must be one of {PATCH_SIZES}, got {self.patch_size!r}"
            )
        if not _is_int(self.view_seed) or not 0 <= self.view_seed < 2**63:
            raise ConfigError(
                f"PreprocessSpec.view_seed must be an int in 0..2**63-1, got {self.view_seed!r}"
            )
        if self.view == "patches" and (self.size[0] % self.patch_size or self.size[1] % self.patch_size):
            raise ConfigError(
                f"PreprocessSpec.patch_size {self.patch_size} must divide the size {self.size} (patches view)"
            )
        defaults = {f.name: f.default for f in fields(self)}
        for view, names in _VIEW_FIELDS.items():
            for name in names:
                if view != self.view and getattr(self, name) != defaults[name]:
                    raise ConfigError(
                        f"PreprocessSpec.{name} applies to the {view!r} view only, not {self.view!r}"
                    )

    @property
    def tiles_per_image(self) -> int:
        """Model inputs one image becomes: rows x cols for the `tiles` view, else 1."""
        return self.tile_grid[0] * self.tile_grid[1] if self.view == "tiles" else 1

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as written into bundle manifests."""
        data = asdict(self)
        data["size"] = list(self.size)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        data["tile_grid"] = list(self.tile_grid)
        if not self.exif_transpose:
            del data["exif_transpose"]  # the default: manifests stay readable by runtimes before it existed
        # Views came later: a resize spec is written as before, other views add only what they read.
        if self.view == "resize":
            del data["view"]
        for view, names in _VIEW_FIELDS.items():
            if view != self.view:
                for name in names:
                    del data[name]
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
