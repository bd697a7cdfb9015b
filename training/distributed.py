"""Process-group setup for `torchrun` (DDP): gloo on CPU, NCCL on CUDA; rank helpers; data order.

`RankBatches` and `SeededItems` make what a step sees independent of the process and worker count:
one seeded permutation per epoch, split into per-rank chunks of each global batch, and every item
transformed under RNG seeds derived from (seed, epoch, index).

A plain `python`/`pinclip train` run is a world of one and never creates a process group. Under
`torchrun` the usual variables (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, ...) are read by
`torch.distributed.init_process_group(init_method="env://")`.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler

from pinclip_sdk.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialised_here: bool = False  # this module created the process group (and must destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _pick_device(preference: str, local_rank: int) -> torch.device:
    if preference == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {preference!r} requested but CUDA is not available here; use cpu")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device


def init_distributed(device: str = "auto") -> DistContext:
    """Join the `torchrun` process group if there is one; pick this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = _pick_device(device, local_rank)
    if world_size <= 1:
        return DistContext(device=chosen)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    created = False
    if not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://")
        created = True
        logger.info("rank %d/%d joined the %s process group on %s", rank, world_size, backend, chosen)
    return DistContext(rank, world_size, local_rank, chosen, created)


def shutdown(ctx: DistContext) -> None:
    """Destroy the process group if `init_distributed` created it."""
    if ctx.initialised_here and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def all_reduce_mean(ctx: DistContext, values: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over the ranks (a copy; the input is left alone)."""
    out = values.detach().clone()
    if ctx.distributed:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= ctx.world_size
    return out


def step_means(
    ctx: DistContext, steps: Sequence[Mapping[str, torch.Tensor]], keys: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step means over the ranks and how many ranks reported each, both
    `[len(steps), len(keys)]` float64 on `ctx.device` (a mean is NaN where no rank reported).

    One all-reduce on the process group's device (NCCL reduces only CUDA tensors) for a whole
    logging interval; nothing is copied to the host.
    """
    zero = torch.zeros((), dtype=torch.float64, device=ctx.device)
    rows = [torch.stack([values[k].to(ctx.device, torch.float64) if k in values else zero for k in keys])
            for values in steps]  # fmt: skip
    sums = torch.stack(rows) if rows else torch.zeros((0, len(keys)), dtype=torch.float64, device=ctx.device)
    mask = [[float(k in values) for k in keys] for values in steps]
    counts = torch.tensor(mask, dtype=torch.float64, device=ctx.device).reshape(len(steps), len(keys))
    total = all_reduce_mean(ctx, torch.cat([sums * counts, counts], dim=1))
    counts = total[:, len(keys) :]
    return total[:, : len(keys)] / counts, counts


def all_gather_objects(ctx: DistContext, obj: Any) -> list[Any]:
    """One picklable object from every rank, in rank order (in-memory exchange only, never saved)."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(ctx: DistContext, obj: Any) -> Any:
    """Rank 0's `obj` on every rank."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class RankBatches(Sampler):
    """This rank's share of each global batch of one epoch, from batch `start` on (drop_last).

    A global batch is `batch_size * world_size` consecutive items of the epoch's permutation;
    rank r takes the r-th chunk of `batch_size`. With gradient accumulation an optimiser step
    takes `accumulate` consecutive global batches, so an epoch ends on a whole step. One sampler
    serves every epoch of a run: `set_position` moves it, and a DataLoader with persistent workers
    reads the new position when it is iterated again.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        ctx: DistContext,
        seed: int,
        epoch: int,
        start: int = 0,
        *,
        accumulate: int = 1,
    ):
        self.n, self.batch_size, self.ctx, self.accumulate = n, batch_size, ctx, accumulate
        self.seed, self.epoch, self.start = seed, epoch, start

    def set_position(self, epoch: int, start: int) -> None:
        """Iterate epoch `epoch` from (micro-)batch `start` on."""
        self.epoch, self.start = epoch, start

    def num_batches(self) -> int:
        """(Micro-)batches per epoch per rank: a whole number of optimiser steps."""
        steps = self.n // (self.batch_size * self.ctx.world_size * self.accumulate)
        return steps * self.accumulate

    def __len__(self) -> int:
        return max(0, self.num_batches() - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        global_batch = self.batch_size * self.ctx.world_size
        for b in range(self.start, self.num_batches()):
            first = b * global_batch + self.ctx.rank * self.batch_size
            yield [(self.epoch, i) for i in perm[first : first + self.batch_size]]


def gather_rng_states(ctx: DistContext) -> dict[str, Any]:
    """Every rank's RNG states (torch, CUDA, numpy, random), gathered in rank order."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state(ctx.device) if ctx.device.type == "cuda" else None,
    }
    return {"ranks": all_gather_objects(ctx, state)}


def restore_rng_state(ctx: DistContext, saved: dict[str, Any]) -> None:
    """Put back this rank's RNG states from `gather_rng_states` output."""
    ranks = saved.get("ranks", [])
    if len(ranks) != ctx.world_size:
        raise ConfigError(
            f"The checkpoint was written by {len(ranks)} process(es); resume with the same number "
            f"(this run has {ctx.world_size}) so the global batch and data order stay the same"
        )
    state = ranks[ctx.rank]
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state.get("cuda") is not None and ctx.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], ctx.device)


def _item_seed(seed: int, epoch: int, index: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + index * 104_729) % (2**31)


class SeededItems(Dataset):
    """Wraps a dataset so item `(epoch, index)` is produced under RNG seeds of (seed, epoch, index).

    The surrounding RNG state (torch, numpy, random) is restored afterwards, so augmentation neither
    consumes nor depends on the training RNG, in the main process or in workers.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        item_seed = _item_seed(self.seed, epoch, index)
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(item_seed)
                random.seed(item_seed)
                np.random.seed(item_seed)
                return self.dataset[index]
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
