"""The throughput settings change how a step runs, never what it computes.

Gradient accumulation equals the larger batch; `compile`, `channels_last` and persistent loader
workers train the same trajectory as the plain loop; resuming may switch the kernel settings.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.training.checkpoint import load_model
from pinclip_sdk.training.config import OptimConfig, TrainConfig
from pinclip_sdk.training.trainer import train


def _with(config: TrainConfig, out_dir: Path, *, batch_size: int | None = None, accumulate: int = 1,
          **changes) -> TrainConfig:  # fmt: skip
    data = dataclasses.replace(config.data, batch_size=batch_size or config.data.batch_size)
    optim = dataclasses.replace(config.optim, accumulate_steps=accumulate)
    return dataclasses.replace(config, data=data, optim=optim, out_dir=str(out_dir), **changes)


def _assert_same_weights(a: Path, b: Path, tol: float) -> None:
    wa, wb = load_model(a)[0].state_dict(), load_model(b)[0].state_dict()
    for key, value in wa.items():
        torch.testing.assert_close(wb[key], value, atol=tol, rtol=tol, msg=key)


def test_accumulated_micro_batches_equal_the_large_batch(tiny_config, tmp_path: Path) -> None:
    base = tiny_config(noise="none", max_steps=4)  # 32 images: 2 steps of 16 per epoch
    large = train(_with(base, tmp_path / "large", batch_size=16))
    accumulated = train(_with(base, tmp_path / "accumulated", batch_size=8, accumulate=2))
    assert accumulated.steps == large.steps == 4
    assert accumulated.losses == pytest.approx(large.losses, abs=1e-5)
    assert large.losses[-1] != pytest.approx(large.losses[0], abs=1e-3)  # it did train
    _assert_same_weights(large.last_checkpoint, accumulated.last_checkpoint, 1e-5)


def test_accumulation_counts_in_the_epoch_and_the_error(tiny_config, tmp_path: Path) -> None:
    result = train(_with(tiny_config(noise="none", epochs=1), tmp_path / "a", batch_size=4, accumulate=4))
    assert result.steps == 2  # 32 images / (4 x 4)
    with pytest.raises(ConfigError, match=r"8 x 1 processes x 8 accumulated.*optim.accumulate_steps"):
        train(_with(tiny_config(), tmp_path / "b", batch_size=8, accumulate=8))
    with pytest.raises(ConfigError, match="optim.accumulate_steps must be >= 1"):
        OptimConfig(accumulate_steps=0)


def test_compiled_forward_trains_the_same_trajectory(tiny_config, tmp_path: Path, monkeypatch) -> None:
    # Inductor needs a minute of C++ compiling on a CPU; aot_eager traces the same graphs
    # (TorchDynamo + AOTAutograd) without code generation.
    modes: list[str] = []
    compile_ = torch.compile

    def compile_with_aot_eager(model, *, mode=None, **kwargs):
        modes.append(mode)
        return compile_(model, backend="aot_eager", **kwargs)

    monkeypatch.setattr(torch, "compile", compile_with_aot_eager)
    base = tiny_config(max_steps=3)
    plain = train(_with(base, tmp_path / "plain"))
    compiled = train(_with(base, tmp_path / "compiled", compile="max-autotune"))
    assert modes == ["max-autotune"]
    assert compiled.losses == pytest.approx(plain.losses, abs=1e-4)
    _assert_same_weights(plain.last_checkpoint, compiled.last_checkpoint, 1e-4)
    # the checkpoint holds the model's own names, not the compiled wrapper's
    assert not any("_orig_mod" in k for k in load_model(compiled.last_checkpoint)[0].state_dict())


def test_channels_last_trains_the_same_trajectory(tiny_config, tmp_path: Path) -> None:
    base = tiny_config(max_steps=3)
    plain = train(_with(base, tmp_path / "plain"))
    channels_last = train(_with(base, tmp_path / "cl", channels_last=True))
    assert channels_last.losses == pytest.approx(plain.losses, abs=1e-5)
    _assert_same_weights(plain.last_checkpoint, channels_last.last_checkpoint, 1e-5)


class PidRecordingTransform:
    """The default eval-size transform, recording which process ran it (picklable for workers)."""

    def __init__(self, inner, log: Path) -> None:
        self.inner, self.log = inner, log

    def __call__(self, image):
        with self.log.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        return self.inner(image)


@pytest.mark.slow
def test_persistent_workers_live_across_epochs_and_keep_the_trajectory(tiny_config, tmp_path: Path) -> None:
    from pinclip_sdk.training.data.augment import AugmentConfig, build_train_transform
    from pinclip_sdk.training.model import preprocess_spec_for

    base = tiny_config(epochs=2, data=dataclasses.replace(tiny_config().data, augment={"jpeg_prob": 0.5}))
    inner = build_train_transform(AugmentConfig(jpeg_prob=0.5), preprocess_spec_for(base.model))
    in_process = train(_with(base, tmp_path / "main"), train_transform=inner)
    log = tmp_path / "pids.txt"
    workers = dataclasses.replace(base.data, num_workers=2, persistent_workers=True)
    with_workers = train(dataclasses.replace(_with(base, tmp_path / "workers"), data=workers),
                         train_transform=PidRecordingTransform(inner, log))  # fmt: skip
    pids = set(log.read_text().split())
    assert len(pids) == 2  # the same two workers for both epochs
    assert str(os.getpid()) not in pids
    assert with_workers.losses == pytest.approx(in_process.losses, abs=1e-6)


def test_resume_may_switch_kernel_settings_but_not_the_arithmetic(tiny_config, tmp_path: Path) -> None:
    first = train(_with(tiny_config(max_steps=2), tmp_path / "run"))
    switched = _with(tiny_config(max_steps=3), tmp_path / "run", channels_last=True, tf32=False)
    assert train(switched, resume=first.last_checkpoint).steps == 3
    changed = _with(tiny_config(max_steps=4), tmp_path / "run", accumulate=2, batch_size=4)
    with pytest.raises(ConfigError, match=r"data\.batch_size \(8 -> 4\).*optim\.accumulate_steps \(1 -> 2\)"):
        train(changed, resume=tmp_path / "run" / "last")
