"""The training step neither syncs with the host nor reduces off the process group's device.

NCCL reduces only CUDA tensors, and every `float(tensor)` / `.item()` in the step stalls a GPU
pipeline; on a CPU CI both are invisible unless counted, so these tests count them.
"""

from __future__ import annotations

import sys
from collections import Counter

import pytest
import torch

from pinclip_sdk.training import distributed
from pinclip_sdk.training.distributed import DistContext, step_means
from pinclip_sdk.training.trainer import train


def test_step_means_reduces_once_on_the_groups_device(monkeypatch) -> None:
    ctx = DistContext(rank=0, world_size=2, device=torch.device("meta"))
    seen: list[torch.device] = []

    def all_reduce_on_device_only(tensor, op=None):
        if tensor.device != ctx.device:
            raise RuntimeError(f"all_reduce got a tensor on {tensor.device}, the group is on {ctx.device}")
        seen.append(tensor.device)

    monkeypatch.setattr(distributed.dist, "all_reduce", all_reduce_on_device_only)
    steps = [{"loss": torch.ones((), device="meta"), "loss_kl": torch.ones((), device="meta")}] * 7 + [{}]
    means, counts = step_means(ctx, steps, ("loss", "loss_clean", "loss_kl"))
    assert seen == [ctx.device]  # one all-reduce for the whole interval
    assert means.shape == counts.shape == (8, 3)
    assert means.device == ctx.device


def test_a_cpu_tensor_is_what_the_shim_refuses(monkeypatch) -> None:
    # The shim above is a real check: the old step built its vector with `torch.tensor([...])` on the CPU.
    ctx = DistContext(rank=0, world_size=2, device=torch.device("meta"))

    def all_reduce_on_device_only(tensor, op=None):
        if tensor.device != ctx.device:
            raise RuntimeError("off-device tensor")

    monkeypatch.setattr(distributed.dist, "all_reduce", all_reduce_on_device_only)
    with pytest.raises(RuntimeError, match="off-device"):
        distributed.all_reduce_mean(ctx, torch.tensor([1.0, 2.0], dtype=torch.float64))


def test_no_host_sync_between_logging_intervals(tiny_config, monkeypatch) -> None:
    from pinclip_sdk.training.trainer import Trainer

    calls: Counter[str] = Counter()
    inside = {"step": False, "flushes": 0}

    def counting(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            # the SDK's own code; torch's optimisers read their CPU step counters with .item()
            if inside["step"] and "pinclip_sdk" in sys._getframe(1).f_code.co_filename:
                calls[name] += 1
            return original(self, *args, **kwargs)

        return wrapper

    for name in ("__float__", "__int__", "__bool__", "item", "tolist", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    step, flush = Trainer.train_step, Trainer.flush

    def counted_step(self, micro_batches):
        micro_batches = list(micro_batches)  # loading and collating the batch happen on the host
        inside["step"] = True
        try:
            return step(self, micro_batches)
        finally:
            inside["step"] = False

    def counted_flush(self):
        inside["flushes"] += bool(self._pending)
        return flush(self)

    monkeypatch.setattr(Trainer, "train_step", counted_step)
    monkeypatch.setattr(Trainer, "flush", counted_flush)
    result = train(tiny_config(max_steps=20, log_every=10))
    assert result.steps == 20
    assert len(result.losses) == 20
    assert calls == Counter(), calls  # nothing in 20 steps reached Python
    # the terms came to the host only at logging, validation and saving: 32 images / batch 8 = 4
    # steps per epoch, so steps 1, 4, 8, 10, 12, 16, 20
    assert inside["flushes"] == 7
