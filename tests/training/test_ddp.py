"""DDP with torchrun: 2 CPU gloo processes train the tiny model like one process on the same global
batch (also with gradient accumulation), and a run interrupted under DDP resumes on its trajectory."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.training.checkpoint import load_model
from pinclip_sdk.training.config import TrainConfig, from_dict, to_dict
from pinclip_sdk.training.trainer import train

WORKER = """
import json, sys
from pathlib import Path
import torch
from safetensors.torch import save_file
from pinclip_sdk.training.config import TrainConfig, from_dict
from pinclip_sdk.training.data.augment import AugmentConfig, build_train_transform
from pinclip_sdk.training.distributed import init_distributed, shutdown
from pinclip_sdk.training.model import preprocess_spec_for
from pinclip_sdk.training.trainer import Trainer, run_loop


class Crash(Exception):
    pass


def crashing_after(calls, config):
    inner = build_train_transform(AugmentConfig.from_dict(dict(config.data.augment)),
                                  preprocess_spec_for(config.model))
    seen = [0]

    def transform(image):
        seen[0] += 1
        if seen[0] > calls:  # every rank loads the same number of images per step
            raise Crash()
        return inner(image)

    return transform


torch.set_num_threads(1)
out = Path(sys.argv[1])
ctx = init_distributed("cpu")
try:
    for name in ("none", "pin", "accumulate"):
        config = from_dict(TrainConfig, json.loads((out / f"{name}.json").read_text()))
        trainer = Trainer(config, ctx)
        result = run_loop(trainer)
        save_file(trainer.model.state_dict(), str(out / f"{name}_rank{ctx.rank}.safetensors"))
        (out / f"{name}_rank{ctx.rank}.json").write_text(json.dumps(result.losses))
    # the pin run again, saving every 2 steps and crashing while loading step 6; then resumed
    config = from_dict(TrainConfig, json.loads((out / "resume.json").read_text()))
    per_step = config.data.batch_size
    try:
        run_loop(Trainer(config, ctx, train_transform=crashing_after(5 * per_step, config)))
        raise SystemExit("the run did not crash")
    except Crash:
        pass
    resumed = run_loop(Trainer(config, ctx, resume=Path(config.out_dir) / "last"))
    (out / f"resume_rank{ctx.rank}.json").write_text(json.dumps(resumed.losses))
finally:
    shutdown(ctx)
"""


def _config(
    base: TrainConfig, noise: str, out_dir: Path, batch_size: int, accumulate: int = 1, **changes
) -> TrainConfig:
    model = dataclasses.replace(base.model, noise=dataclasses.replace(base.model.noise, mode=noise))
    data = dataclasses.replace(base.data, batch_size=batch_size, augment={"jpeg_prob": 0.0})
    optim = dataclasses.replace(base.optim, accumulate_steps=accumulate)
    return dataclasses.replace(base, model=model, data=data, optim=optim, out_dir=str(out_dir),
                               max_steps=6, **changes)  # fmt: skip


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tiny_config, tmp_path: Path) -> None:
    base = tiny_config()
    configs = {
        noise: _config(base, noise, tmp_path / f"ddp_{noise}", batch_size=4)  # 2 ranks x 4 = 8
        for noise in ("none", "pin")
    }
    # 2 ranks x 2 images x 2 micro-batches = 8
    configs["accumulate"] = _config(base, "none", tmp_path / "ddp_accumulate", batch_size=2, accumulate=2)
    configs["resume"] = _config(base, "pin", tmp_path / "ddp_resume", batch_size=4, save_every=2)
    for name, config in configs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(to_dict(config)))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]

    # every rank ends with the same weights, in both noise modes
    for noise in ("none", "pin"):
        rank0 = load_file(str(tmp_path / f"{noise}_rank0.safetensors"))
        rank1 = load_file(str(tmp_path / f"{noise}_rank1.safetensors"))
        for key, value in rank0.items():
            assert torch.equal(rank1[key], value), f"{noise}: {key} differs between ranks"
        # rank 0 saved them, and they are the trained weights (not the initial ones)
        saved, _ = load_model(tmp_path / f"ddp_{noise}" / "last")
        for key, value in saved.state_dict().items():
            assert torch.equal(rank0[key], value)

    # the noise-free run follows the single-process run on the same global batch of 8
    single = train(_config(from_dict(TrainConfig, to_dict(base)), "none", tmp_path / "single", batch_size=8))
    ddp_losses = json.loads((tmp_path / "none_rank0.json").read_text())
    assert json.loads((tmp_path / "none_rank1.json").read_text()) == ddp_losses  # the logged loss is global
    assert ddp_losses == pytest.approx(single.losses, abs=1e-4)
    assert ddp_losses[-1] != pytest.approx(ddp_losses[0], abs=1e-3)  # it did train
    single_weights = load_model(single.last_checkpoint)[0].state_dict()
    ddp_weights = load_file(str(tmp_path / "none_rank0.safetensors"))
    accumulated_weights = load_file(str(tmp_path / "accumulate_rank0.safetensors"))
    for key, value in single_weights.items():
        torch.testing.assert_close(ddp_weights[key], value, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(accumulated_weights[key], value, atol=1e-4, rtol=1e-4)
    # accumulating micro-batches under DDP (gradients all-reduced once per step) is the same step
    accumulated_losses = json.loads((tmp_path / "accumulate_rank0.json").read_text())
    assert accumulated_losses == pytest.approx(single.losses, abs=1e-4)

    # interrupted at step 6 with noise on, resumed from its step-4 checkpoint: the same trajectory
    pin_losses = json.loads((tmp_path / "pin_rank0.json").read_text())
    resumed = json.loads((tmp_path / "resume_rank0.json").read_text())
    assert resumed == pytest.approx(pin_losses[4:], abs=1e-6)
    assert json.loads((tmp_path / "resume_rank1.json").read_text()) == resumed
    # a different process count cannot continue it: the global batch and data order would change
    with pytest.raises(ConfigError, match=r"written by 2 process\(es\); resume with the same number"):
        train(configs["resume"], resume=tmp_path / "ddp_resume" / "last")
