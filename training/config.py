"""Configuration of a PiN-CLIP run: typed, frozen dataclasses with a strict dict/YAML round trip.

One `TrainConfig` describes a whole run (model, data, objective, optimiser, loop); `ModelConfig`
alone is what a checkpoint needs to rebuild the network. Every choice the paper leaves open
(docs/references.md#choices-the-paper-leaves-open) is a field here, not a code path to edit.

Unknown keys are an error everywhere (a typo must not silently fall back to a default), and
`--set a.b=value` overrides are parsed as YAML scalars so `1e-4`, `true` and `[0, 1]` work.

Importing this module does not import torch.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.spec import PATCH_SIZES, TILE_REDUCTIONS, VIEWS

FinetuneMode = Literal["lora", "full", "frozen"]
NoiseMode = Literal["pin", "random", "none"]
Injection = Literal["pooled", "cls", "tokens"]
HeadKind = Literal["linear", "cosine"]


def _check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{owner}.{name} = {value!r} is not one of {', '.join(choices)}")


def _check_positive(owner: str, name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{owner}.{name} must be {bound}, got {value!r}")


# --------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class LoRAConfig:
    """Low-rank adapters on the q/k/v projections of the visual attention blocks."""

    rank: int = 6  # r; the group's DGS-Net default (docs/references.md#dgs-net-defaults, [I])
    alpha: float = 6.0  # the update is scaled by alpha / rank
    dropout: float = 0.8  # dropout on the adapter input (DGS-Net default 0.8, [I])
    layers: tuple[int, ...] | None = None  # block indices (negative = from the end); None = all blocks
    targets: tuple[str, ...] = ("q", "k", "v")  # which of the packed projections get an adapter

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ConfigError(f"model.lora.rank must be >= 1, got {self.rank}")
        _check_positive("model.lora", "alpha", self.alpha)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.lora.dropout must be in [0, 1), got {self.dropout}")
        bad = [t for t in self.targets if t not in ("q", "k", "v")]
        if bad or not self.targets:
            raise ConfigError(f"model.lora.targets must be a non-empty subset of q, k, v; got {self.targets}")


@dataclass(frozen=True)
class NoiseConfig:
    """The positive-incentive noise: how it is made, where it is injected, how it is used at test time.

    The defaults follow PiNI's generator (no sqrt(d), no residual, sigma = |.|, PyTorch's default
    init), with sigma measured in units of the clean features' per-dimension running std, so a
    given sigma means the same noise-to-signal ratio at every backbone and injection point.
    """

    mode: NoiseMode = "pin"  # pin = learned generator; random = fixed-sigma Gaussian; none = no noise
    num_samples: int = 1  # K noise samples per image and step
    injection: Injection = "tokens"  # tokens into a block; pooled embedding; CLS token before projection
    inject_layer: int = -1  # for injection=tokens: noise enters the input of this block
    hidden_dim: int | None = None  # generator width; None = feature dim (PiNI reduction 1)
    fusion: Literal["attention", "residual"] = "attention"  # residual adds the query to the attended prompts
    scaled_attention: bool = False  # divide q.k by sqrt(d); PiNI omits the scaling
    conditioning: Literal["prompts", "label"] = "prompts"  # attend over all prompts, or the true class only
    detach_input: bool = False  # stop the generator's gradient from reaching the encoder via its input
    sigma_activation: Literal["abs", "softplus"] = "abs"  # sigma = |.| + floor (PiNI) or softplus(.) + floor
    init: Literal["default", "near_zero"] = "default"  # Linear default init (PiNI), or mu = 0, sigma ~ 0.018
    sigma_scale: Literal["feature_std", "absolute"] = "feature_std"  # sigma (and random_sigma) unit
    mean: Literal["learned", "zero"] = "learned"  # mu; always zero with conditioning = label
    sigma_floor: float = 1e-4  # added to sigma, so sigma > 0 always
    sigma_max: float | None = None  # optional bound: sigma = floor + (max - floor) * sigmoid(.)
    prior_scale: float = 1.0  # the KL prior is N(0, (prior_scale * unit)^2), unit as sigma_scale says
    min_relative_sigma: float = 0.01  # training warns when mean sigma / feature std falls below this
    random_sigma: float = 0.5  # std of the fixed Gaussian in mode=random (in sigma_scale units)
    inference: Literal["none", "mean", "sample"] = "none"  # test-time noise (evaluation and validation)

    def __post_init__(self) -> None:
        _check_choice("model.noise", "mode", self.mode, ("pin", "random", "none"))
        _check_choice("model.noise", "injection", self.injection, ("pooled", "cls", "tokens"))
        _check_choice("model.noise", "fusion", self.fusion, ("attention", "residual"))
        _check_choice("model.noise", "conditioning", self.conditioning, ("prompts", "label"))
        _check_choice("model.noise", "inference", self.inference, ("none", "mean", "sample"))
        _check_choice("model.noise", "sigma_activation", self.sigma_activation, ("abs", "softplus"))
        _check_choice("model.noise", "init", self.init, ("default", "near_zero"))
        _check_choice("model.noise", "sigma_scale", self.sigma_scale, ("feature_std", "absolute"))
        _check_choice("model.noise", "mean", self.mean, ("learned", "zero"))
        if self.num_samples < 1:
            raise ConfigError(f"model.noise.num_samples must be >= 1, got {self.num_samples}")
        _check_positive("model.noise", "sigma_floor", self.sigma_floor)
        _check_positive("model.noise", "random_sigma", self.random_sigma)
        _check_positive("model.noise", "prior_scale", self.prior_scale)
        _check_positive("model.noise", "min_relative_sigma", self.min_relative_sigma, allow_zero=True)
        if self.sigma_max is not None and self.sigma_max <= self.sigma_floor:
            raise ConfigError(
                f"model.noise.sigma_max ({self.sigma_max}) must exceed sigma_floor ({self.sigma_floor})"
            )
        if self.hidden_dim is not None and self.hidden_dim < 1:
            raise ConfigError(f"model.noise.hidden_dim must be >= 1, got {self.hidden_dim}")
        if self.conditioning == "label" and self.inference != "none":
            raise ConfigError(
                "model.noise.conditioning = 'label' needs the true class, which is unknown at test time; "
                "use inference = 'none' with it (or conditioning = 'prompts')"
            )


@dataclass(frozen=True)
class ModelConfig:
    """The network: backbone, fine-tuning scheme, prompts, head and noise generator."""

    backbone: str = "ViT-L-14"  # any open_clip model name (list: open_clip.list_models())
    pretrained: str | None = "openai"  # open_clip tag, a local checkpoint file, or None (random init)
    quick_gelu: bool | None = None  # None = what the pretrained tag was trained with
    image_size: int | None = None  # None = the backbone's native input size
    finetune: FinetuneMode = "lora"  # lora | full | frozen (linear probe, the UnivFD baseline)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    prompts: tuple[str, str] = ("A real photo", "A fake photo")  # class 0 (real), class 1 (fake)
    head: HeadKind = "cosine"  # cosine = CLIP logits against the prompts (PiNI); linear -> 1 logit
    logit_scale: Literal["frozen", "learned"] = "frozen"  # the cosine head's temperature (CLIP's own)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    # What part of each image the model sees (docs/views.md): resize | crop | tiles | patches.
    # Training draws random native crops / random patch mosaics; evaluation and the bundle use the view.
    view: str = "resize"
    tile_grid: tuple[int, int] = (2, 2)  # tiles view: rows, cols of native crops per image
    tile_reduce: str = "mean"  # tiles view: mean | max of the tiles' logits
    patch_size: int = 32  # patches view: side of the mosaic's patches (the group's 32)

    def __post_init__(self) -> None:
        _check_choice("model", "finetune", self.finetune, ("lora", "full", "frozen"))
        _check_choice("model", "view", self.view, VIEWS)
        _check_choice("model", "tile_reduce", self.tile_reduce, TILE_REDUCTIONS)
        if self.patch_size not in PATCH_SIZES:
            raise ConfigError(f"model.patch_size must be one of {PATCH_SIZES}, got {self.patch_size!r}")
        _check_choice("model", "head", self.head, ("linear", "cosine"))
        _check_choice("model", "logit_scale", self.logit_scale, ("frozen", "learned"))
        if self.image_size is not None and self.image_size < 1:
            raise ConfigError(f"model.image_size must be >= 1, got {self.image_size}")
        if len(self.prompts) != 2 or not all(isinstance(p, str) and p.strip() for p in self.prompts):
            raise ConfigError(
                f"model.prompts must be two non-empty strings (real, fake), got {self.prompts!r}"
            )


# ---------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataConfig:
    """Where the images are and how they are batched and augmented."""

    train_path: str | None = None  # dataset root (any layout data.discover reads)
    val_path: str | None = None  # None = use train_path with val_split (if it has one)
    layout: str = "auto"  # data.discover layout name
    train_split: str | None = "train"  # split selected from train_path (None = everything)
    val_split: str | None = "val"  # split selected from val_path / train_path; None = no validation
    generators: tuple[str, ...] | None = None  # keep only these generators (e.g. SDv1.4); None = all
    augment: dict[str, Any] = field(default_factory=dict)  # data.augment.AugmentConfig fields
    batch_size: int = 32  # per process; the global batch is batch_size * world size
    eval_batch_size: int = 64
    num_workers: int = 4
    prefetch_factor: int = 2  # batches each worker loads ahead (num_workers > 0)
    persistent_workers: bool = True  # keep the workers (and their decoders) alive across epochs
    val_fraction: float = 0.0  # without a val split: hold out this stratified fraction of train
    max_val_samples: int | None = None  # cap on validation images (seeded subset) for quick runs

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError(f"data.batch_size/eval_batch_size must be >= 1, got {self.batch_size}")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {self.num_workers}")
        if self.prefetch_factor < 1:
            raise ConfigError(f"data.prefetch_factor must be >= 1, got {self.prefetch_factor}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")


# ----------------------------------------------------------------------------- objective / optim


@dataclass(frozen=True)
class LossConfig:
    """L = BCE(clean) + noisy_weight * mean_K BCE(noisy) + kl_weight * KL(q || N(0, I))."""

    clean_weight: float = 1.0  # weight of the clean-feature BCE term
    noisy_weight: float = 1.0  # lambda (docs/references.md#variational-objective: try 1)
    kl_weight: float = 0.0  # beta; the VPN/PiNI code has no KL term

    def __post_init__(self) -> None:
        for name in ("clean_weight", "noisy_weight", "kl_weight"):
            _check_positive("loss", name, getattr(self, name), allow_zero=True)
        if self.clean_weight == 0 and self.noisy_weight == 0:
            raise ConfigError("loss.clean_weight and loss.noisy_weight cannot both be 0")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with warmup, then a cosine, step or constant schedule; gradient clipping."""

    lr: float = 1e-4  # DGS-Net: Adam 1e-4 (docs/references.md#dgs-net-defaults, [X])
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of lr
    step_size: int = 1000  # schedule=step: multiply by gamma every step_size steps
    gamma: float = 0.9
    grad_clip: float | None = 1.0  # max global grad norm; None = no clipping
    accumulate_steps: int = 1  # micro-batches of data.batch_size per optimiser step (gradient accumulation)

    def __post_init__(self) -> None:
        _check_positive("optim", "lr", self.lr)
        _check_positive("optim", "weight_decay", self.weight_decay, allow_zero=True)
        _check_choice("optim", "schedule", self.schedule, ("cosine", "step", "constant"))
        if self.warmup_steps < 0 or self.step_size < 1:
            raise ConfigError("optim.warmup_steps must be >= 0 and optim.step_size >= 1")
        if self.accumulate_steps < 1:
            raise ConfigError(f"optim.accumulate_steps must be >= 1, got {self.accumulate_steps}")
        if self.grad_clip is not None:
            _check_positive("optim", "grad_clip", self.grad_clip)


# ---------------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    out_dir: str = "runs/pinclip"
    epochs: int = 1
    max_steps: int | None = None  # stop after this many optimiser steps (overrides epochs)
    seed: int = 100  # DGS-Net seed (docs/references.md#dgs-net-defaults)
    deterministic: bool = True  # torch deterministic algorithms where the platform allows
    device: str = "auto"  # auto = cuda:LOCAL_RANK if available, else cpu
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"  # auto = bf16/fp16 on CUDA, off on CPU
    tf32: bool = True  # TF32 matmuls and convolutions on CUDA (Ampere or newer); no effect on CPU
    compile: Literal["off", "default", "reduce-overhead", "max-autotune"] = "off"  # torch.compile mode
    channels_last: bool = False  # channels-last pixels and conv weights (ConvNeXt/ResNet backbones)
    log_every: int = 10  # steps between JSONL metric lines
    eval_every: int | None = None  # steps between validations; None = at the end of each epoch
    save_every: int | None = None  # steps between resumable checkpoints; None = end of each epoch
    best_metric: str = "mean.acc"  # dotted key into metrics.detection_metrics picking the best checkpoint
    best_mode: Literal["max", "min"] = "max"
    progress: bool = True  # tqdm progress bar on stderr (rank 0)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {self.max_steps}")
        for name in ("eval_every", "save_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1 or null, got {value}")
        if self.log_every < 1:
            raise ConfigError(f"log_every must be >= 1, got {self.log_every}")
        _check_choice("train", "amp", self.amp, ("auto", "off", "bf16", "fp16"))
        _check_choice("train", "compile", self.compile, ("off", "default", "reduce-overhead", "max-autotune"))
        _check_choice("train", "best_mode", self.best_mode, ("max", "min"))


# ------------------------------------------------------------------------------ dict round trip

# Model fields added after checkpoints were first written, with the value that reproduces what those
# checkpoints were trained with. A saved config that lacks one of them means that value, not today's
# default (`with_legacy_model_fields`).
LEGACY_MODEL_FIELDS: dict[str, Any] = {
    "logit_scale": "learned",
    "noise.sigma_activation": "softplus",
    "noise.init": "near_zero",
    "noise.sigma_scale": "absolute",
    "noise.mean": "learned",
    "noise.prior_scale": 1.0,
    "noise.min_relative_sigma": 0.0,
}


def with_legacy_model_fields(model: dict[str, Any]) -> dict[str, Any]:
    """A saved `ModelConfig` dict with the fields it predates filled in as it was trained (a copy)."""
    out = json.loads(json.dumps(model))
    for dotted, value in LEGACY_MODEL_FIELDS.items():
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf not in node:
            node[leaf] = value
    return out


def to_dict(config: Any) -> dict[str, Any]:
    """Plain-JSON form of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert JSON/YAML data to the annotated field type (nested dataclasses, tuples, optionals)."""
    origin = typing.get_origin(tp)
    if _is_dataclass_type(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0], where) if len(non_none) == 1 else value
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(value)
    if tp is float and not isinstance(value, bool):
        # YAML 1.1 reads "1e-4" (no dot) as a string; accept it as the number it obviously is
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build config dataclass `cls` from a mapping; unknown keys raise `ConfigError` with suggestions."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        full = f"{where}.{key}" if where else key
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"Unknown config key {full!r}; known keys here: {', '.join(names)}.{hint}")
        kwargs[key] = _coerce(value, hints[key], full)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"Invalid config for {where or cls.__name__}: {exc}") from None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` strings to a nested dict (values parsed as YAML scalars); returns a copy."""
    import yaml

    result = json.loads(json.dumps(data))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"Override {item!r} must look like key.path=value (e.g. optim.lr=1e-4)")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"Override {item!r}: cannot parse value {raw!r}: {exc}") from None
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"Override {item!r}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return result


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML run file into a dict (an empty file is an empty dict)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Config file {str(path)!r} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {str(path)!r} must hold a mapping at the top level")
    return data


def diff_configs(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    keys = sorted(set(a) | set(b))
    out: list[str] = []
    for key in keys:
        full = f"{prefix}.{key}" if prefix else key
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out.extend(diff_configs(va, vb, full))
        elif va != vb:
            out.append(full)
    return out


def lr_factor(cfg: OptimConfig, step: int, total_steps: int) -> float:
    """Multiplier of `cfg.lr` at optimiser step `step` (0-based): linear warmup, then the schedule."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        return cfg.gamma ** ((step - cfg.warmup_steps) // cfg.step_size)
    span = max(1, total_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def get_dotted(data: dict[str, Any], dotted: str) -> Any:
    """`data["a"]["b"]` for `"a.b"`; None where a level is missing."""
    node: Any = data
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node
