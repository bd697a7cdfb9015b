"""Trainer: learns on a GenImage-layout tree, resumes exactly, fails early and clearly."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from pinclip_sdk.errors import ConfigError, DatasetError, TrainingError
from pinclip_sdk.training.checkpoint import load_model
from pinclip_sdk.training.config import OptimConfig
from pinclip_sdk.training.trainer import lr_factor, train


def _events(out_dir: Path, kind: str) -> list[dict]:
    lines = (out_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == kind]


def test_tiny_model_learns_genimage_tree(tiny_config) -> None:
    config = tiny_config(epochs=4)
    result = train(config)
    assert result.steps == 16  # 32 train images / batch 8 x 4 epochs
    first, last = sum(result.losses[:4]) / 4, sum(result.losses[-4:]) / 4
    assert last < 0.8 * first, result.losses
    assert result.best_checkpoint is not None
    assert (result.best_checkpoint / "model.safetensors").is_file()
    # ranking, not accuracy at p = 0.5: 16 steps separate the classes before they calibrate them
    assert result.metrics["mean"]["ap"] >= 0.95
    train_lines = _events(result.out_dir, "train")
    assert {"loss", "loss_clean", "loss_noisy", "loss_kl", "sigma_mean", "lr", "grad_norm"} <= set(
        train_lines[0]
    )
    assert len(_events(result.out_dir, "val")) == 4  # once per epoch
    model, cfg = load_model(result.best_checkpoint)
    assert cfg.noise.mode == "pin"
    assert model.noise_generator is not None


def test_interrupted_run_resumes_on_the_same_trajectory(tiny_config, tmp_path: Path) -> None:
    from pinclip_sdk.training.data.augment import AugmentConfig, build_train_transform
    from pinclip_sdk.training.model import preprocess_spec_for

    config = tiny_config(
        max_steps=8,
        save_every=2,
        data=dataclasses.replace(tiny_config().data, augment={"jpeg_prob": 0.5, "blur_prob": 0.5}),
    )
    reference = train(dataclasses.replace(config, out_dir=str(tmp_path / "reference")))
    inner = build_train_transform(
        AugmentConfig(jpeg_prob=0.5, blur_prob=0.5), preprocess_spec_for(config.model)
    )
    calls = {"n": 0}

    def crash_in_step_six(image):
        calls["n"] += 1
        if calls["n"] > 8 * 5:
            raise KeyboardInterrupt("simulated crash")
        return inner(image)

    crashed = dataclasses.replace(config, out_dir=str(tmp_path / "crashed"))
    with pytest.raises(KeyboardInterrupt):
        train(crashed, train_transform=crash_in_step_six)
    resumed = train(crashed, resume=tmp_path / "crashed" / "last")  # last save: step 4
    assert resumed.steps == 8
    assert resumed.losses == pytest.approx(reference.losses[4:], abs=1e-6)
    ref_w = load_model(reference.last_checkpoint)[0].state_dict()
    res_w = load_model(resumed.last_checkpoint)[0].state_dict()
    for key, value in ref_w.items():
        torch.testing.assert_close(res_w[key], value, atol=1e-6, rtol=0)


def test_resume_with_a_different_config_names_the_keys(tiny_config) -> None:
    config = tiny_config(max_steps=2)
    result = train(config)
    changed = dataclasses.replace(config, optim=dataclasses.replace(config.optim, lr=1e-4), seed=5)
    with pytest.raises(ConfigError, match=r"optim\.lr \(0\.003 -> 0\.0001\).*seed \(100 -> 5\)"):
        train(changed, resume=result.last_checkpoint)
    longer = train(dataclasses.replace(config, max_steps=3), resume=result.last_checkpoint)
    assert longer.steps == 3
    assert len(longer.losses) == 1


def test_nan_loss_stops_naming_step_and_last_finite_values(tiny_config) -> None:
    from pinclip_sdk.training.data.augment import AugmentConfig, build_train_transform
    from pinclip_sdk.training.model import preprocess_spec_for

    config = tiny_config(max_steps=6)
    inner = build_train_transform(AugmentConfig(), preprocess_spec_for(config.model))
    calls = {"n": 0}

    def nan_from_step_three(image):
        calls["n"] += 1
        pixels = inner(image)
        return pixels * float("nan") if calls["n"] > 8 * 2 else pixels

    with pytest.raises(TrainingError, match=r"Non-finite loss at step 2 .*Last finite values: \[\{'loss': "):
        train(config, train_transform=nan_from_step_three)


def test_bad_datasets_fail_before_training(tiny_config, tmp_path: Path) -> None:
    from pinclip_sdk.training.data.dataset_testing import make_folder_dataset, make_image

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="unknown dataset layout.*0 image"):
        train(tiny_config(data=dataclasses.replace(tiny_config().data, train_path=str(empty))))
    only_fake = make_folder_dataset(tmp_path / "onlyfake", n_per_class=2)
    import shutil

    shutil.rmtree(only_fake / "real")
    with pytest.raises(DatasetError, match="only fake"):
        train(tiny_config(data=dataclasses.replace(tiny_config().data, train_path=str(only_fake))))
    # both classes overall, but the train split holds fakes only
    import numpy as np

    rows = ["path,label,split"]
    rng = np.random.default_rng(0)
    for i, (label, split) in enumerate([(1, "train")] * 3 + [(0, "val"), (1, "val")]):
        make_image(rng, label, 32).save(tmp_path / f"img{i}.png")
        rows.append(f"img{i}.png,{label},{split}")
    image_list = tmp_path / "images.csv"
    image_list.write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match="0 real and 3 fake images; training needs both"):
        train(tiny_config(data=dataclasses.replace(tiny_config().data, train_path=str(image_list))))
    with pytest.raises(ConfigError, match="train_path is not set"):
        train(tiny_config(data=dataclasses.replace(tiny_config().data, train_path=None)))


def test_none_mode_optimiser_holds_no_generator(tiny_config) -> None:
    from pinclip_sdk.training.distributed import DistContext
    from pinclip_sdk.training.trainer import Trainer

    trainer = Trainer(tiny_config(noise="none"), DistContext())
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert trainer.model.noise_generator is None
    assert optimised == {id(p) for _, p in trainer.model.trainable_parameters()}
    pin = Trainer(tiny_config(noise="pin"), DistContext())
    pin_optimised = {id(p) for group in pin.optimizer.param_groups for p in group["params"]}
    assert {id(p) for p in pin.model.noise_generator.parameters()} <= pin_optimised


def test_lr_schedules() -> None:
    cosine = OptimConfig(lr=1.0, warmup_steps=2, schedule="cosine", min_lr_ratio=0.1)
    factors = [lr_factor(cosine, s, 12) for s in range(12)]
    assert factors[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert all(a >= b for a, b in zip(factors[2:], factors[3:], strict=False))
    assert factors[-1] > 0.1
    step = OptimConfig(lr=1.0, schedule="step", step_size=3, gamma=0.5)
    assert [lr_factor(step, s, 10) for s in (0, 2, 3, 6)] == [1.0, 1.0, 0.5, 0.25]


def test_cli_train_with_yaml_and_overrides(genimage_root: Path, tmp_path: Path, capsys) -> None:
    from pinclip_sdk.cli import main

    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text("preset: tiny\noptim:\n  lr: 1e-3\ndata:\n  augment: {jpeg_prob: 0.0}\n")
    out = tmp_path / "cli"
    argv = ["train", "--config", str(run_yaml), "--data", str(genimage_root), "--out", str(out)]
    rc = main(
        [
            *argv,
            "--set",
            "max_steps=2",
            "--set",
            "model.noise.mode=random",
            "--set",
            "progress=false",
            "--json",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 2
    assert Path(summary["last_checkpoint"]).is_dir()
    saved = json.loads((out / "last" / "config.json").read_text())["train"]
    assert saved["optim"]["lr"] == 1e-3
    assert saved["model"]["noise"]["mode"] == "random"
    assert main([*argv, "--set", "optim.lrr=1"]) == 1
    assert "Did you mean 'lr'" in capsys.readouterr().err


def test_sample_selection_generators_and_held_out_fraction(tiny_config) -> None:
    from pinclip_sdk.training.trainer import select_samples

    base = tiny_config()
    train_set, val_set = select_samples(base)
    assert {s.split for s in train_set} == {"train"}
    assert {s.split for s in val_set} == {"val"}
    only_sd = dataclasses.replace(base, data=dataclasses.replace(base.data, generators=("SDv1.4",)))
    train_set, val_set = select_samples(only_sd)
    assert {s.generator for s in train_set + val_set} == {"SDv1.4"}
    assert {s.label for s in train_set} == {0, 1}
    held_out = dataclasses.replace(
        base, data=dataclasses.replace(base.data, val_split=None, val_fraction=0.25)
    )
    train_set, val_set = select_samples(held_out)
    assert (len(train_set), len(val_set)) == (24, 8)  # 2 of 8 per (label, generator), from train only
    assert not {s.path for s in train_set} & {s.path for s in val_set}
    assert {s.split for s in val_set} == {"train"}
    typo = dataclasses.replace(base, data=dataclasses.replace(base.data, generators=("SDv14",)))
    with pytest.raises(
        DatasetError, match=r"\['SDv14'\], not found; generators there: \['Midjourney', 'SDv1.4'\]"
    ):
        select_samples(typo)


def test_docs_cover_every_config_field() -> None:
    from pinclip_sdk.training import config as cfg

    text = (Path(__file__).parents[2] / "docs" / "training.md").read_text()
    classes = (
        cfg.ModelConfig,
        cfg.LoRAConfig,
        cfg.NoiseConfig,
        cfg.DataConfig,
        cfg.LossConfig,
        cfg.OptimConfig,
    )
    fields = {f.name for c in (*classes, cfg.TrainConfig) for f in dataclasses.fields(c)}
    missing = sorted(n for n in fields if f"`{n}`" not in text and f".{n}`" not in text)  # `model.noise`
    assert not missing, f"docs/training.md does not document {missing}"


def test_unknown_best_metric_fails_before_training(tiny_config) -> None:
    with pytest.raises(ConfigError, match="best_metric 'mean.accuracy' is not a validation metric"):
        train(tiny_config(best_metric="mean.accuracy"))
