"""Provenance recorded in the manifest: checkpoint and config hashes, dataset summary, versions."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from pathlib import Path
from typing import Any

from pinclip_sdk.hashing import sha256_file
from pinclip_sdk.targets import BACKEND_RECORDS
from pinclip_sdk.versions import library_versions as installed_versions

_logger = logging.getLogger(__name__)

# the libraries that shape an artifact: the SDK, training and export ones, every backend's library
_BACKEND_LIBRARIES = tuple(b.library for b in BACKEND_RECORDS)
LIBRARIES = tuple(
    dict.fromkeys(("pinclip-sdk", "torch", "open_clip_torch", "onnx", *_BACKEND_LIBRARIES, "nncf", "numpy"))
)


def library_versions() -> dict[str, str | None]:
    """Python and the installed versions of the libraries that shaped the artifacts (None when absent)."""
    return {"python": platform.python_version(), **installed_versions(LIBRARIES)}


def _canonical_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def checkpoint_provenance(checkpoint: str | Path) -> dict[str, Any]:
    """Hashes of the checkpoint's weights and training config plus the training data summary."""
    from pinclip_sdk.training.checkpoint import read_checkpoint_config

    directory = Path(checkpoint)
    config = read_checkpoint_config(directory)
    weights = sorted(directory.glob("model*.safetensors"))
    train = config.get("train") or {}
    data = train.get("data") or {}
    return {
        "checkpoint": {
            "path": str(directory),
            "weights_sha256": sha256_file(weights[0]) if weights else None,
            "training_config_sha256": _canonical_hash({"model": config.get("model"), "train": train}),
            "step": config.get("step"),
            "lora_merged_in_checkpoint": config.get("lora_merged"),
        },
        "training": {
            "dataset": {
                k: data.get(k) for k in ("train_path", "val_path", "layout", "train_split", "val_split")
            },
            "seed": train.get("seed"),
            "max_steps": train.get("max_steps"),
            "validation_metrics": {k: v for k, v in (config.get("metrics") or {}).items() if k != "noise"},
            # the noise at the end of training: sigma / feature std, |mu| / |f|, noisy - clean loss
            "noise": (config.get("metrics") or {}).get("noise"),
        },
    }
