"""Checkpoints: safetensors + JSON round trip, strict loading, tamper refusal, the tiny helper."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from pinclip_sdk.errors import CheckpointError
from pinclip_sdk.training.checkpoint import (
    TrainerState,
    load_model,
    load_trainer_state,
    read_checkpoint_config,
    save_checkpoint,
)
from pinclip_sdk.training.testing import make_tiny_checkpoint, synthetic_batch


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", seed=0)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_make_tiny_checkpoint_is_fast_deterministic_and_trained(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    start = time.perf_counter()
    again = make_tiny_checkpoint(tmp_path / "again", seed=0)
    assert time.perf_counter() - start < 5.0
    assert _sha(again / "model.safetensors") == _sha(tiny_checkpoint / "model.safetensors")
    other = make_tiny_checkpoint(tmp_path / "other", seed=1)
    assert _sha(other / "model.safetensors") != _sha(tiny_checkpoint / "model.safetensors")
    weights = load_file(str(tiny_checkpoint / "model.safetensors"))
    assert any(k.endswith("lora_B_q") and v.abs().sum() > 0 for k, v in weights.items())
    config = read_checkpoint_config(tiny_checkpoint)
    assert config["model"]["backbone"] == "pinclip-tiny-vit"
    assert config["preprocess"]["size"] == [32, 32]
    assert not list(tiny_checkpoint.glob("*.pt"))
    assert not list(tiny_checkpoint.glob("*.pkl"))


def test_round_trip_gives_identical_logits(tmp_path: Path, tiny_checkpoint: Path) -> None:
    model, cfg = load_model(tiny_checkpoint)
    pixels = synthetic_batch(6, 32, seed=9)[0]
    with torch.no_grad():
        logits = model.forward_head(model.forward_features(pixels))
    saved = save_checkpoint(tmp_path / "copy", model, cfg)
    again, cfg2 = load_model(saved)
    assert cfg2 == cfg
    with torch.no_grad():
        torch.testing.assert_close(again.forward_head(again.forward_features(pixels)), logits, atol=0, rtol=0)
    # a merged checkpoint reloads as merged and gives the same logits
    model.merge_lora()
    merged, _ = load_model(save_checkpoint(tmp_path / "merged", model, cfg))
    assert merged.lora_merged
    with torch.no_grad():
        torch.testing.assert_close(
            merged.forward_head(merged.forward_features(pixels)), logits, atol=1e-5, rtol=0
        )


def _tamper(src: Path, dst: Path, edit) -> Path:
    import shutil

    shutil.copytree(src, dst)
    weights = load_file(str(dst / "model.safetensors"))
    edit(weights)
    save_file(weights, str(dst / "model.safetensors"))
    return dst


def test_tampered_state_dicts_are_refused(tmp_path: Path, tiny_checkpoint: Path) -> None:
    extra = _tamper(tiny_checkpoint, tmp_path / "extra", lambda w: w.update(backdoor=torch.zeros(3)))
    with pytest.raises(CheckpointError, match=r"unexpected keys \(1\): backdoor"):
        load_model(extra)
    missing = _tamper(tiny_checkpoint, tmp_path / "missing", lambda w: w.pop("head.fc.weight"))
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): head.fc.weight"):
        load_model(missing)
    shaped = _tamper(
        tiny_checkpoint, tmp_path / "shape", lambda w: w.update({"head.fc.bias": torch.zeros(2)})
    )
    with pytest.raises(CheckpointError, match="head.fc.bias"):
        load_model(shaped)


def test_corrupt_or_foreign_checkpoints_are_refused(tmp_path: Path, tiny_checkpoint: Path) -> None:
    import shutil

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_checkpoint, corrupt)
    data = (corrupt / "model.safetensors").read_bytes()
    (corrupt / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_model(corrupt)
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_model(tmp_path)
    foreign = tmp_path / "foreign"
    shutil.copytree(tiny_checkpoint, foreign)
    cfg = json.loads((foreign / "config.json").read_text())
    cfg["format_version"] = 99
    (foreign / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_model(foreign)
    with pytest.raises(CheckpointError, match="no trainer state"):
        load_trainer_state(tiny_checkpoint)


def test_trainer_state_round_trip_without_pickle(tmp_path: Path, tiny_checkpoint: Path) -> None:
    import random

    import numpy as np

    model, cfg = load_model(tiny_checkpoint)
    params = [p for _, p in model.trainable_parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    model.train()
    pixels, labels = synthetic_batch(4, 32, seed=3)
    torch.nn.functional.binary_cross_entropy_with_logits(model(pixels).clean_logits, labels).backward()
    opt.step()
    state = TrainerState(
        step=7,
        epoch=1,
        batch_in_epoch=2,
        best_value=0.5,
        optimizer=opt.state_dict(),
        rng={"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
    )
    save_checkpoint(tmp_path / "resumable", model, cfg, trainer_state=state)
    back = load_trainer_state(tmp_path / "resumable")
    assert (back.step, back.epoch, back.batch_in_epoch, back.best_value) == (7, 1, 2, 0.5)
    assert torch.equal(back.rng["torch"], state.rng["torch"])
    assert back.rng["python"] == state.rng["python"]
    np.testing.assert_array_equal(back.rng["numpy"][1], state.rng["numpy"][1])
    fresh = torch.optim.AdamW(params, lr=1e-3)
    fresh.load_state_dict(back.optimizer)
    for key, value in opt.state_dict()["state"][0].items():
        torch.testing.assert_close(fresh.state_dict()["state"][0][key], value)
