"""PiN-CLIP: an open_clip visual tower (+LoRA), a noise generator and a detection head.

`create_model(cfg)` builds the network from an open_clip backbone (pretrained tag or local file),
encodes the class prompts once with the frozen text tower, keeps them as a buffer and drops the
text tower. `PiNCLIP.forward` returns the clean logits and the K noisy logits the objective needs;
`forward_head(forward_features(x))` in eval mode is the deployed detector's logit (noise off).

The feature/head split follows the injection point (`model.noise.injection`):
- `pooled`: features = the projected image embedding; head = the detection head.
- `cls`: features = the pooled CLS token before the projection; head = projection + head.
- `tokens`: features = all tokens entering block `inject_layer`; head = the remaining blocks,
  pooling, projection and head.
Noise is added to the features, so every injection point shares one code path.

Importing this module registers the tiny test backbone `pinclip-tiny-vit` with open_clip.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import open_clip
import torch
from torch import nn

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.spec import PreprocessSpec
from pinclip_sdk.training.config import ModelConfig
from pinclip_sdk.training.heads import build_head
from pinclip_sdk.training.lora import apply_lora, has_lora
from pinclip_sdk.training.lora import merge_lora as _merge_lora
from pinclip_sdk.training.noise import FeatureScale, NoiseGenerator, NoiseParams, fixed_noise

logger = logging.getLogger(__name__)

MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"
TINY_BACKBONE = "pinclip-tiny-vit"


def register_model_configs() -> None:
    """Add the JSON backbones shipped in `model_configs/` to open_clip's registry (idempotent)."""
    if TINY_BACKBONE not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIG_DIR)


register_model_configs()


@dataclass
class PinOutput:
    """What one training forward produces."""

    clean_logits: torch.Tensor  # [N]
    noisy_logits: torch.Tensor | None  # [K, N]; None in noise mode `none`
    noise: NoiseParams | None  # the Gaussian the samples came from; None in mode `none`
    features: torch.Tensor | None = None  # the clean features the noise was added to


class PiNCLIP(nn.Module):
    """The detector. Build it with `create_model` (or `checkpoint.load_model`), not directly.

    Args:
        cfg: the model configuration (`quick_gelu` resolved).
        visual: an open_clip vision tower.
        prompt_embeddings: `[2, D]` text embeddings of the (real, fake) prompts, unnormalised.
        logit_scale: CLIP's log temperature, used to initialise the cosine head.
    """

    def __init__(
        self, cfg: ModelConfig, visual: nn.Module, prompt_embeddings: torch.Tensor, logit_scale: float
    ) -> None:
        super().__init__()
        self.config = cfg
        self.visual = visual
        self.register_buffer("prompt_embeddings", prompt_embeddings.detach().clone().float())
        embed_dim = int(prompt_embeddings.shape[-1])
        if cfg.noise.injection != "pooled" or cfg.finetune == "lora":
            _require_vit(visual, cfg)
        if cfg.finetune == "lora":
            apply_lora(visual, cfg.lora)
        for name, param in visual.named_parameters():
            param.requires_grad = cfg.finetune == "full" or (cfg.finetune == "lora" and "lora_" in name)
        self.head = build_head(cfg.head, embed_dim, logit_scale)
        if cfg.head == "cosine" and cfg.logit_scale == "frozen":
            self.head.logit_scale.requires_grad_(False)  # CLIP's own temperature, as PiNI keeps it
        feature_dim = embed_dim if cfg.noise.injection == "pooled" else visual.transformer.width
        self.noise_generator = (
            NoiseGenerator(feature_dim, embed_dim, cfg.noise) if cfg.noise.mode == "pin" else None
        )
        relative = cfg.noise.mode != "none" and cfg.noise.sigma_scale == "feature_std"
        self.feature_scale = FeatureScale(feature_dim) if relative else None
        if cfg.noise.mode != "none" and cfg.head == "linear" and cfg.noise.injection != "tokens":
            logger.warning(
                "model.head = linear with noise injected at %r: the noise reaches the logit only as one "
                "shift and one scale per image, so it cannot act on feature directions. Use head = "
                "cosine or injection = tokens for noise that can.",
                cfg.noise.injection,
            )
        self._preprocess_spec: PreprocessSpec | None = None

    # ------------------------------------------------------------------ the deployed path

    def forward_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Features at the noise injection point (see the module docstring)."""
        injection = self.config.noise.injection
        if injection == "pooled":
            out = self.visual(pixels)
            return out[0] if isinstance(out, tuple) else out
        x = self.visual._embeds(pixels)
        blocks = self.visual.transformer.resblocks
        if injection == "cls":
            for block in blocks:
                x = block(x)
            pooled, _ = self.visual._pool(x)
            return pooled
        for block in blocks[: self._inject_index()]:
            x = block(x)
        return x

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits `[N]` (log-odds of fake) from features at the injection point."""
        injection = self.config.noise.injection
        if injection == "tokens":
            x = features
            for block in self.visual.transformer.resblocks[self._inject_index() :]:
                x = block(x)
            features, _ = self.visual._pool(x)
        if injection != "pooled" and self.visual.proj is not None:
            features = features @ self.visual.proj
        return self.head(features, self.prompt_embeddings)

    # ------------------------------------------------------------------ training / inference

    def forward(
        self, pixels: torch.Tensor, labels: torch.Tensor | None = None, num_samples: int | None = None
    ) -> PinOutput:
        """Clean logits plus K noisy logits (noise sampled with the reparameterisation trick)."""
        features = self.forward_features(pixels)
        clean = self.forward_head(features)
        noise = self._noise_params(features, labels)
        if noise is None:
            return PinOutput(clean_logits=clean, noisy_logits=None, noise=None, features=features)
        k = num_samples or self.config.noise.num_samples
        noisy = features.unsqueeze(0) + noise.sample(k)
        logits = self.forward_head(noisy.reshape(-1, *features.shape[1:]))
        noisy_logits = logits.reshape(k, -1)
        return PinOutput(clean_logits=clean, noisy_logits=noisy_logits, noise=noise, features=features)

    @torch.no_grad()
    def predict_logits(self, pixels: torch.Tensor, noise: str | None = None) -> torch.Tensor:
        """Test-time logits with the configured inference noise (`none`, `mean` or `sample`);
        evaluation and validation score with this. `none` is the exported detector's logit."""
        mode = noise or self.config.noise.inference
        features = self.forward_features(pixels)
        params = self._noise_params(features, None) if mode != "none" else None
        if params is None:
            return self.forward_head(features)
        if mode == "mean":
            return self.forward_head(features + params.mean)
        k = self.config.noise.num_samples
        noisy = (features.unsqueeze(0) + params.sample(k)).reshape(-1, *features.shape[1:])
        return self.forward_head(noisy).reshape(k, -1).mean(dim=0)

    def _noise_params(self, features: torch.Tensor, labels: torch.Tensor | None) -> NoiseParams | None:
        mode = self.config.noise.mode
        if mode == "none":
            return None
        unit = self.feature_scale(features) if self.feature_scale is not None else None
        if mode == "random":
            return fixed_noise(features, self.config.noise.random_sigma, unit)
        return self.noise_generator(features, self.prompt_embeddings, labels, unit)

    # ------------------------------------------------------------------ housekeeping

    def merge_lora(self) -> None:
        """Fold LoRA into plain attention weights, in place (a no-op without LoRA)."""
        merged = _merge_lora(self.visual) if has_lora(self.visual) else 0
        logger.debug("merged LoRA into %d attention blocks", merged)

    @property
    def lora_merged(self) -> bool:
        return self.config.finetune == "lora" and not has_lora(self.visual)

    @property
    def preprocess_spec(self) -> PreprocessSpec:
        """The eval preprocessing of the backbone (open_clip's preprocess config for it)."""
        if self._preprocess_spec is None:
            self._preprocess_spec = preprocess_spec_for(self.config)
        return self._preprocess_spec

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Named parameters the optimiser should update."""
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def _inject_index(self) -> int:
        n = len(self.visual.transformer.resblocks)
        return self.config.noise.inject_layer % n


def _require_vit(visual: nn.Module, cfg: ModelConfig) -> None:
    needed = ("_embeds", "_pool", "transformer", "proj")
    if not all(hasattr(visual, attr) for attr in needed):
        raise ConfigError(
            f"model.noise.injection = {cfg.noise.injection!r} / finetune = {cfg.finetune!r} needs an "
            f"open_clip VisionTransformer tower; {cfg.backbone!r} has {type(visual).__name__} "
            "(use injection = pooled and finetune = full or frozen)"
        )


def _tag_config(cfg: ModelConfig) -> dict:
    from open_clip.pretrained import get_pretrained_cfg

    if not cfg.pretrained or Path(cfg.pretrained).is_file():
        return {}
    return get_pretrained_cfg(cfg.backbone, cfg.pretrained) or {}


def resolve_config(cfg: ModelConfig) -> ModelConfig:
    """Check the backbone exists and fill `quick_gelu` from the pretrained tag when unset."""
    if open_clip.get_model_config(cfg.backbone) is None:
        import difflib

        close = difflib.get_close_matches(cfg.backbone, open_clip.list_models(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"Unknown open_clip backbone {cfg.backbone!r} (see open_clip.list_models()).{hint}")
    if cfg.quick_gelu is None:
        cfg = dataclasses.replace(cfg, quick_gelu=bool(_tag_config(cfg).get("quick_gelu", False)))
    return cfg


def preprocess_spec_for(cfg: ModelConfig) -> PreprocessSpec:
    """`PreprocessSpec` for a model config: open_clip's eval transform for the backbone and tag."""
    is_tag = bool(cfg.pretrained) and not Path(cfg.pretrained).is_file()
    spec = PreprocessSpec.from_open_clip(cfg.backbone, cfg.pretrained if is_tag else None)
    if cfg.image_size is not None:
        spec = dataclasses.replace(spec, size=(cfg.image_size, cfg.image_size))
    if cfg.view != "resize":
        view: dict[str, Any] = {"view": cfg.view}
        if cfg.view == "tiles":
            view.update(tile_grid=tuple(cfg.tile_grid), tile_reduce=cfg.tile_reduce)
        if cfg.view == "patches":
            view["patch_size"] = cfg.patch_size
        spec = dataclasses.replace(spec, **view)
    return spec


class _DropRandomInitNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextlib.contextmanager
def _quiet_random_init(asked_for_random: bool) -> Iterator[None]:
    """Drop open_clip's root-logger warning about random init while building a model that asked for it."""
    notice = _DropRandomInitNotice()
    if asked_for_random:
        logging.getLogger().addFilter(notice)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(notice)


@functools.lru_cache(maxsize=4)
def _tokenizer(backbone: str) -> Any:
    # building the BPE tokenizer costs ~0.2 s; it is immutable, so share it
    return open_clip.get_tokenizer(backbone)


def create_model(cfg: ModelConfig, device: str | torch.device = "cpu") -> PiNCLIP:
    """Build PiN-CLIP from an open_clip backbone, with pretrained weights if `cfg.pretrained` is set.

    Raises:
        ConfigError: unknown backbone, or pretrained weights that cannot be found or downloaded.
    """
    cfg = resolve_config(cfg)
    try:
        with warnings.catch_warnings(), _quiet_random_init(cfg.pretrained is None):
            # quick_gelu is resolved from the tag above; open_clip's mismatch warning is then moot.
            warnings.simplefilter("ignore", UserWarning)
            clip = open_clip.create_model(
                cfg.backbone,
                pretrained=cfg.pretrained,
                force_quick_gelu=bool(cfg.quick_gelu),
                force_image_size=cfg.image_size,
                device=device,
            )
    except RuntimeError as exc:
        raise ConfigError(
            f"Cannot load pretrained weights {cfg.pretrained!r} for {cfg.backbone!r}: {exc}. "
            "Pass a local checkpoint file as model.pretrained, or pretrained: null for random init."
        ) from exc
    clip.eval()
    tokenizer = _tokenizer(cfg.backbone)
    with torch.no_grad():
        prompts = clip.encode_text(tokenizer(list(cfg.prompts)).to(device))
    logit_scale = float(clip.logit_scale.detach()) if hasattr(clip, "logit_scale") else math.log(100.0)
    model = PiNCLIP(cfg, clip.visual, prompts, logit_scale)
    del clip  # the text tower is not needed again: the prompt embeddings are cached in the model
    return model.to(device)


def build_empty_model(cfg: ModelConfig) -> PiNCLIP:
    """The architecture of `cfg` with random weights and no text tower (to load a checkpoint into)."""
    from open_clip.model import _build_vision_tower

    cfg = resolve_config(cfg)
    arch = open_clip.get_model_config(cfg.backbone)
    vision_cfg = dict(arch["vision_cfg"])
    if cfg.image_size is not None:
        vision_cfg["image_size"] = cfg.image_size
    visual = _build_vision_tower(arch["embed_dim"], vision_cfg, quick_gelu=bool(cfg.quick_gelu))
    prompts = torch.zeros(len(cfg.prompts), arch["embed_dim"])
    return PiNCLIP(cfg, visual, prompts, math.log(100.0))
