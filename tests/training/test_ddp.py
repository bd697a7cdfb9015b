"""DDP with torchrun: 2 CPU gloo processes train the tiny model like one process on the same global batch."""

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

from pinclip_sdk.training.checkpoint import load_model
from pinclip_sdk.training.config import TrainConfig, from_dict, to_dict
from pinclip_sdk.training.trainer import train

WORKER = """
import json, sys
from pathlib import Path
import torch
from safetensors.torch import save_file
from pinclip_sdk.training.config import TrainConfig, from_dict
from pinclip_sdk.training.distributed import init_distributed, shutdown
from pinclip_sdk.training.trainer import Trainer, run_loop

torch.set_num_threads(1)
out = Path(sys.argv[1])
ctx = init_distributed("cpu")
try:
    for name in ("none", "pin"):
        config = from_dict(TrainConfig, json.loads((out / f"{name}.json").read_text()))
        trainer = Trainer(config, ctx)
        result = run_loop(trainer)
        save_file(trainer.model.state_dict(), str(out / f"{name}_rank{ctx.rank}.safetensors"))
        (out / f"{name}_rank{ctx.rank}.json").write_text(json.dumps(result.losses))
finally:
    shutdown(ctx)
"""


def _config(base: TrainConfig, noise: str, out_dir: Path, batch_size: int) -> TrainConfig:
    model = dataclasses.replace(base.model, noise=dataclasses.replace(base.model.noise, mode=noise))
    data = dataclasses.replace(base.data, batch_size=batch_size, augment={"jpeg_prob": 0.0})
    return dataclasses.replace(base, model=model, data=data, out_dir=str(out_dir), max_steps=6)


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tiny_config, tmp_path: Path) -> None:
    base = tiny_config()
    for noise in ("none", "pin"):
        config = _config(base, noise, tmp_path / f"ddp_{noise}", batch_size=4)  # 2 ranks x 4 = 8
        (tmp_path / f"{noise}.json").write_text(json.dumps(to_dict(config)))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
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
    for key, value in single_weights.items():
        torch.testing.assert_close(ddp_weights[key], value, atol=1e-4, rtol=1e-4)
