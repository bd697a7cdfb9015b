"""Checkpoints: safetensors weights + JSON config, never pickle; strict loading only.

Layout of a checkpoint directory:
- `model.safetensors`: the full `PiNCLIP` state dict (visual tower with unmerged LoRA, head, noise
  generator, cached prompt embeddings).
- `config.json`: `{"format", "format_version", "model", "preprocess", "train", "lora_merged", "step",
  "metrics"}`; `model` is the resolved `ModelConfig`, `train` the whole run config (or null).
- `trainer_state.safetensors` + `trainer_state.json` (resumable checkpoints only): optimiser, AMP
  scaler and RNG states, the step/epoch position and the best validation value so far.

Nested states (an optimiser's `state_dict`, RNG tuples) are stored as JSON in which every tensor is
replaced by `{"__tensor__": key}` pointing into the safetensors file. Loading compares key sets and
shapes before touching the model, and refuses any difference (a peer detector's silent
`strict=False` partial load is the failure this prevents).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from pinclip_sdk.errors import CheckpointError, ConfigError
from pinclip_sdk.training.config import ModelConfig, TrainConfig, from_dict, to_dict, with_legacy_model_fields

logger = logging.getLogger(__name__)

FORMAT = "pinclip-checkpoint"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"


@dataclass
class TrainerState:
    """Everything besides the weights that a resumed run needs to continue the same trajectory."""

    step: int = 0  # optimiser steps done
    epoch: int = 0  # current epoch (0-based)
    batch_in_epoch: int = 0  # batches of `epoch` already consumed
    best_value: float | None = None
    best_step: int | None = None
    optimizer: dict[str, Any] = field(default_factory=dict)
    scaler: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)
    last_losses: list[float] = field(default_factory=list)


# ------------------------------------------------------------------------------- tensor <-> JSON


def _pack(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able copy of `obj` with tensors moved into `tensors` (numpy arrays become tensors too)."""
    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        tensors[key] = torch.from_numpy(np.ascontiguousarray(obj))
        return {"__ndarray__": key}
    if isinstance(obj, dict):
        return {
            "__dict__": [
                [_pack(k, f"{key}.k{i}", tensors), _pack(v, f"{key}.{i}", tensors)]
                for i, (k, v) in enumerate(obj.items())
            ]
        }
    if isinstance(obj, tuple):
        return {"__tuple__": [_pack(v, f"{key}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_pack(v, f"{key}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise CheckpointError(f"Cannot store {type(obj).__name__} at {key!r} in a checkpoint (not JSON/tensor)")


def _unpack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_unpack(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy()
        if "__tuple__" in obj:
            return tuple(_unpack(v, tensors) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {_unpack(k, tensors): _unpack(v, tensors) for k, v in obj["__dict__"]}
    return obj


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def _write_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    tmp.replace(path)


# ----------------------------------------------------------------------------------------- save


def save_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    config: TrainConfig | ModelConfig,
    *,
    trainer_state: TrainerState | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write `model` (+ optional trainer state) to `directory`; returns the directory.

    Args:
        directory: created if missing; existing checkpoint files in it are replaced.
        model: a `PiNCLIP` (or a DDP wrapper around one).
        config: the run config (or just the model config).
        trainer_state: include it to make the checkpoint resumable.
        metrics: validation metrics recorded in `config.json`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # a DDP wrapper saves its module, with the same keys
    model_cfg = model.config  # resolved (quick_gelu filled in)
    train_dict = to_dict(config) if isinstance(config, TrainConfig) else None
    if train_dict is not None:
        train_dict["model"] = to_dict(model_cfg)
    state = {k: v for k, v in model.state_dict().items()}
    _write_tensors(directory / WEIGHTS, state, {"format": FORMAT})
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": to_dict(model_cfg),
        "preprocess": model.preprocess_spec.to_dict(),
        "train": train_dict,
        "lora_merged": bool(model.lora_merged),
        "step": trainer_state.step if trainer_state else None,
        "metrics": metrics or {},
    }
    if trainer_state is not None:
        tensors: dict[str, torch.Tensor] = {}
        packed = {
            name: _pack(getattr(trainer_state, name), name, tensors)
            for name in trainer_state.__dataclass_fields__
        }
        _write_tensors(directory / STATE_TENSORS, tensors, {"format": FORMAT})
        _write_json(directory / STATE_JSON, packed)
    else:
        for name in (STATE_TENSORS, STATE_JSON):
            (directory / name).unlink(missing_ok=True)
    _write_json(directory / CONFIG, document)  # last: its presence marks a complete checkpoint
    return directory


# ----------------------------------------------------------------------------------------- load


def read_checkpoint_config(directory: str | Path) -> dict[str, Any]:
    """The parsed `config.json` of a checkpoint, after format checks."""
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{str(directory)!r} is not a PiN-CLIP checkpoint: {CONFIG} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if data.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} has format {data.get('format')!r}, expected {FORMAT!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has format_version {data.get('format_version')!r}; "
            f"this SDK reads {FORMAT_VERSION}"
        )
    # fields added since the checkpoint was written take the values it was trained with
    if isinstance(data.get("model"), dict):
        data["model"] = with_legacy_model_fields(data["model"])
    train = data.get("train")
    if isinstance(train, dict) and isinstance(train.get("model"), dict):
        data["train"] = {**train, "model": with_legacy_model_fields(train["model"])}
    return data


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file {str(path)!r} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{str(path)!r} is not a readable safetensors file: {exc}") from None


def _summarise(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load `state` into `model`, refusing missing/unexpected keys and shape mismatches."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_summarise(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_summarise(unexpected)}")
        raise CheckpointError(f"{source} does not match the model built from its config: " + "; ".join(parts))
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    if wrong:
        raise CheckpointError(f"{source}: tensor shapes differ from the model: {_summarise(wrong)}")
    model.load_state_dict(state, strict=True)


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> tuple[Any, ModelConfig]:
    """Rebuild the model from `config.json` and load `model.safetensors` strictly.

    No pretrained weights are downloaded: the architecture comes from the config, the weights
    (including the cached prompt embeddings) from the checkpoint.

    Raises:
        CheckpointError: missing/corrupt files, unknown format, or keys/shapes that do not match.
    """
    from pinclip_sdk.training.model import build_empty_model

    directory = Path(directory)
    data = read_checkpoint_config(directory)
    try:
        cfg = from_dict(ModelConfig, data["model"], "model")
    except (ConfigError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{str(directory / CONFIG)!r}: invalid model config: {exc}") from None
    model = build_empty_model(cfg)
    if data.get("lora_merged"):
        model.merge_lora()
    load_state_strict(model, _read_tensors(directory / WEIGHTS), str(directory / WEIGHTS))
    model.eval()
    return model.to(device), model.config


def load_trainer_state(directory: str | Path) -> TrainerState:
    """The resumable part of a checkpoint; `CheckpointError` if the checkpoint has none."""
    directory = Path(directory)
    if not (directory / STATE_JSON).is_file():
        raise CheckpointError(
            f"{str(directory)!r} has no trainer state ({STATE_JSON}): it is a weights-only checkpoint "
            "(e.g. best/), resume from last/ instead"
        )
    tensors = _read_tensors(directory / STATE_TENSORS)
    try:
        packed = json.loads((directory / STATE_JSON).read_text(encoding="utf-8"))
        return TrainerState(**{k: _unpack(v, tensors) for k, v in packed.items()})
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{str(directory / STATE_JSON)!r} is corrupt: {exc}") from None
