"""Named starting points for a run: the paper setting (and its robust and PiNI variants), an edge
setting, a linear probe, a tiny test.

A preset is a partial config dict; a YAML file and `--set` overrides are merged on top of it
(`build_config`). Values marked [I] (docs/references.md#dgs-net-defaults) are the group's published
defaults (DGS-Net), not confirmed PiN-CLIP values.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.training.config import TrainConfig, apply_overrides, from_dict, load_yaml

_LORA_PAPER = {"rank": 6, "alpha": 6.0, "dropout": 0.8, "layers": None, "targets": ["q", "k", "v"]}

# PiNI's noise path (hyzhang98/PiNI, docs/references.md#noise-generator): noise on the projected
# pooled embedding, L2-normalised and scored by cosine against the prompt embeddings at CLIP's frozen
# temperature; generator q/k/v Linear(d, d), softmax(q k^T) without sqrt(d), no residual,
# sigma = |.| with PyTorch's default init. sigma is in units of the features' running std.
_PINI_HEAD_AND_NOISE = {
    "head": "cosine",
    "logit_scale": "frozen",
    "noise": {
        "mode": "pin",
        "injection": "pooled",
        "num_samples": 1,
        "hidden_dim": None,
        "fusion": "attention",
        "scaled_attention": False,
        "sigma_activation": "abs",
        "init": "default",
        "sigma_scale": "feature_std",
        "conditioning": "prompts",
    },
}
# The group's view (DGS-Net data/PatchSelectionTransform.py [I]): 32 px patches of lowest and highest
# spectral entropy shuffled into the 224 px input, in training and test (docs/views.md).
_PATCH_MOSAIC = {"view": "patches", "patch_size": 32}
# The group's training protocol (DGS-Net): no blur or JPEG augmentation, Adam 1e-4, seed 100.
_NO_DEGRADATIONS = {"blur_prob": 0.0, "jpeg_prob": 0.0}
_DEGRADATIONS = {"blur_prob": 0.1, "jpeg_prob": 0.1}  # Wang et al. 2020 "Blur+JPEG (0.1)"

PRESETS: dict[str, dict[str, Any]] = {
    # OpenAI CLIP ViT-L/14 @224, LoRA r=6 on q/k/v of all 24 blocks, PiNI's noise path and cosine
    # head, the group's protocol (no blur/JPEG), Adam(W) 1e-4, batch 32, seed 100
    # (docs/references.md#dgs-net-defaults [I]).
    "paper": {
        "model": {
            "backbone": "ViT-L-14",
            "pretrained": "openai",
            "finetune": "lora",
            "lora": _LORA_PAPER,
            **_PINI_HEAD_AND_NOISE,
            **_PATCH_MOSAIC,
        },
        "loss": {"clean_weight": 1.0, "noisy_weight": 1.0, "kl_weight": 0.0},
        "optim": {"lr": 1e-4, "weight_decay": 0.0, "schedule": "cosine", "warmup_steps": 100},
        "data": {"batch_size": 32, "augment": _NO_DEGRADATIONS},
        "epochs": 3,
        "seed": 100,
    },
    # `paper` trained with blur and JPEG re-compression (p = 0.1 each): for deployments that see
    # re-encoded uploads. Its robustness numbers are not comparable with the paper's no-aug protocol.
    "robust": {
        "model": {
            "backbone": "ViT-L-14",
            "pretrained": "openai",
            "finetune": "lora",
            "lora": _LORA_PAPER,
            **_PINI_HEAD_AND_NOISE,
            **_PATCH_MOSAIC,
        },
        "optim": {"lr": 1e-4, "schedule": "cosine", "warmup_steps": 100},
        "data": {"batch_size": 32, "augment": _DEGRADATIONS},
        "epochs": 3,
        "seed": 100,
    },
    # PiNI itself: the same noise path with the generator's input detached (PiNI's stop-gradient:
    # the encoder learns only from the losses, never by shaping features to shrink the noise) and
    # sigma in feature units, as PiNI's |fc(.)|.
    "pini": {
        "model": {
            "backbone": "ViT-L-14",
            "pretrained": "openai",
            "finetune": "lora",
            "lora": _LORA_PAPER,
            **_PINI_HEAD_AND_NOISE,
            **_PATCH_MOSAIC,
            "noise": {**_PINI_HEAD_AND_NOISE["noise"], "detach_input": True, "sigma_scale": "absolute"},
        },
        "optim": {"lr": 1e-4, "schedule": "cosine", "warmup_steps": 100},
        "data": {"batch_size": 32, "augment": _NO_DEGRADATIONS},
        "epochs": 3,
        "seed": 100,
    },
    # ViT-B/16: ~4x fewer image-tower FLOPs than ViT-L/14, for Jetson-class devices; the paper's noise
    # path, with blur/JPEG augmentation (edge devices score re-encoded camera and upload streams).
    # Needs its own validation: the paper's numbers are for the large backbone. The `crop` view: one
    # native-resolution centre crop per image (the CNNDetection / UnivFD test protocol) keeps the
    # generator's pixel traces, costs one inference, and lets the runtime decode only the crop's
    # region of a JPEG; the mosaic must score every patch of the full decode (docs/views.md).
    "edge": {
        "model": {
            "backbone": "ViT-B-16",
            "pretrained": "openai",
            "finetune": "lora",
            "lora": _LORA_PAPER,
            **_PINI_HEAD_AND_NOISE,
            "view": "crop",
        },
        "optim": {"lr": 1e-4, "schedule": "cosine", "warmup_steps": 100},
        "data": {"batch_size": 64, "augment": _DEGRADATIONS},
        "epochs": 3,
        "seed": 100,
    },
    # The UnivFD baseline: frozen CLIP features + a linear probe, no noise.
    "univfd": {
        "model": {
            "backbone": "ViT-L-14",
            "pretrained": "openai",
            "finetune": "frozen",
            "head": "linear",
            "noise": {"mode": "none"},
        },
        "optim": {"lr": 1e-3, "schedule": "cosine"},
        "data": {"batch_size": 64},
        "epochs": 3,
    },
    # Random-init tiny backbone (32 px): seconds on a CPU, for smoke tests and CI.
    "tiny": {
        "model": {
            "backbone": "pinclip-tiny-vit",
            "pretrained": None,
            "lora": {"rank": 4, "alpha": 8.0, "dropout": 0.0},
        },
        "optim": {"lr": 3e-3, "warmup_steps": 0},
        "data": {"batch_size": 8, "num_workers": 0, "eval_batch_size": 32},
        "epochs": 2,
        "log_every": 1,
    },
}


def preset_dict(name: str) -> dict[str, Any]:
    """A copy of preset `name`; unknown names raise `ConfigError` with the closest match."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, list(PRESETS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"Unknown preset {name!r}; presets: {', '.join(PRESETS)}.{hint}")
    return apply_overrides(PRESETS[name], [])


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; `top` wins, sections merge key by key."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def build_config(
    path: str | Path | None = None,
    *,
    preset: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> TrainConfig:
    """Preset (or the YAML's `preset:` key, default `paper`) <- YAML file <- `key=value` overrides.

    Raises:
        ConfigError: unknown preset, unreadable YAML, unknown keys or invalid values.
    """
    data = load_yaml(path) if path is not None else {}
    name = preset or data.pop("preset", None) or "paper"
    data.pop("preset", None)
    merged = apply_overrides(merge(preset_dict(name), data), list(overrides))
    return from_dict(TrainConfig, merged)
