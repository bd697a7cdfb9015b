"""The training loop: `train(TrainConfig) -> TrainResult`, single process or under `torchrun` (DDP).

What it guarantees:
- Reproducible: model init, data order (a seeded permutation per epoch) and augmentation (each item
  is transformed under RNG seeds derived from (seed, epoch, index)) do not depend on worker count
  or timing; a resumed run continues the exact loss trajectory of an uninterrupted one (CPU).
- Resumable: `out_dir/last` holds weights + optimiser/scaler/RNG state + the position in the epoch;
  `out_dir/best` the weights with the best validation metric so far.
- Honest: a non-finite loss stops the run naming the step and the last finite values; bad datasets
  fail before the first step; unreadable images are counted and reported.
- DDP: each rank gets `batch_size` images of every global batch of `world_size * batch_size`
  (contiguous chunks of the same permutation a single process would use); gradients are averaged;
  only rank 0 evaluates, logs and saves.
- Gradient accumulation: an optimiser step takes `optim.accumulate_steps` consecutive global
  batches (gradients all-reduced on the last), so it equals one step on the larger batch.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pinclip_sdk.errors import CheckpointError, ConfigError, DatasetError, TrainingError
from pinclip_sdk.training.checkpoint import (
    TrainerState,
    load_state_strict,
    load_trainer_state,
    read_checkpoint_config,
    save_checkpoint,
)
from pinclip_sdk.training.config import TrainConfig, diff_configs, get_dotted, lr_factor, to_dict
from pinclip_sdk.training.distributed import (
    DistContext,
    RankBatches,
    SeededItems,
    barrier,
    gather_rng_states,
    init_distributed,
    restore_rng_state,
    shutdown,
    step_means,
)
from pinclip_sdk.training.losses import pin_loss
from pinclip_sdk.training.model import PiNCLIP, build_empty_model, create_model, preprocess_spec_for

logger = logging.getLogger(__name__)

Transform = Callable[[Any], torch.Tensor]

# Keys that may change when resuming: they do not alter the trajectory up to the resume point.
RESUMABLE_KEYS = (
    "epochs",
    "max_steps",
    "log_every",
    "eval_every",
    "save_every",
    "progress",
    "out_dir",
    "device",
    "data.train_path",
    "data.val_path",
    "data.num_workers",
    "data.prefetch_factor",
    "data.persistent_workers",
    "data.eval_batch_size",
    # kernels, not the arithmetic the run does: a run may resume on a machine without them
    "tf32",
    "compile",
    "channels_last",
)
# logged every `log_every` steps: the loss terms, then the noise's size against the features (sigma
# in feature-std units, |mu| / |f|) and how much worse the noisy term is than the clean one
LOSS_KEYS = ("loss", "loss_clean", "loss_noisy", "loss_kl", "sigma_mean", "sigma_rel", "mu_rel", "loss_gap")
NOISE_KEYS = ("sigma_rel", "mu_rel", "loss_gap")


@dataclass
class TrainResult:
    """What a finished run produced."""

    out_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path | None  # None without validation data
    metrics: dict[str, Any]  # last validation metrics (empty without validation data)
    steps: int  # optimiser steps done in total (including before a resume)
    losses: list[float] = field(default_factory=list)  # global mean loss of each step of this call


# ------------------------------------------------------------------------------------- data order


# ------------------------------------------------------------------------------------------ data


@dataclass
class DataSplits:
    """The samples of a run and the training dataset built over them."""

    train: list[Any]
    val: list[Any]
    train_dataset: Dataset


def _require_both_classes(samples: list[Any], where: str) -> None:
    counts = {0: 0, 1: 0}
    for s in samples:
        counts[int(s.label)] = counts.get(int(s.label), 0) + 1
    if not counts[0] or not counts[1]:
        raise DatasetError(
            f"{where} has {counts[0]} real and {counts[1]} fake images; training needs both classes"
        )


def _split_off(samples: list[Any], fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Stratified, seeded hold-out of `fraction` of each (label, generator) group."""
    rng = random.Random(seed)
    groups: dict[tuple[int, str], list[Any]] = {}
    for s in samples:
        groups.setdefault((int(s.label), s.generator), []).append(s)
    train, val = [], []
    for key in sorted(groups, key=str):
        items = list(groups[key])
        rng.shuffle(items)
        k = int(round(len(items) * fraction))
        val.extend(items[:k])
        train.extend(items[k:])
    return sorted(train, key=lambda s: str(s.path)), sorted(val, key=lambda s: str(s.path))


def _keep_generators(samples: list[Any], wanted: tuple[str, ...], where: str) -> list[Any]:
    """Samples of the `wanted` generators (reals shared by all generators are kept too)."""
    fake_generators = {s.generator for s in samples if s.label == 1}
    missing = sorted(set(wanted) - {s.generator for s in samples})
    if missing:
        raise DatasetError(
            f"{where}: data.generators names {missing}, not found; "
            f"generators there: {sorted(fake_generators)}"
        )
    return [
        s for s in samples if s.generator in wanted or (s.label == 0 and s.generator not in fake_generators)
    ]


def select_samples(config: TrainConfig) -> tuple[list[Any], list[Any]]:
    """Train and validation samples as `config.data` describes; errors before any training."""
    from pinclip_sdk.training import data

    cfg = config.data
    if not cfg.train_path:
        raise ConfigError(
            "data.train_path is not set (pinclip train --data PATH, or data.train_path in YAML)"
        )
    everything = data.discover(cfg.train_path, cfg.layout)
    if cfg.generators is not None:
        everything = _keep_generators(everything, cfg.generators, cfg.train_path)
    has_splits = any(s.split is not None for s in everything)
    if cfg.train_split is None or not has_splits:
        train = list(everything)
    else:
        train = [s for s in everything if s.split == cfg.train_split]
        if not train:
            found = sorted({str(s.split) for s in everything})
            raise DatasetError(f"{cfg.train_path}: no images in split {cfg.train_split!r}; splits: {found}")
    val: list[Any] = []
    if cfg.val_path:
        val = data.discover(cfg.val_path, cfg.layout, cfg.val_split)
    elif cfg.val_split is not None and has_splits:
        val = [s for s in everything if s.split == cfg.val_split]
        if cfg.train_split is None:
            train = [s for s in train if s.split != cfg.val_split]
    if not val and cfg.val_fraction > 0:
        train, val = _split_off(train, cfg.val_fraction, config.seed)
    _require_both_classes(train, f"The training set ({cfg.train_path}, split {cfg.train_split!r})")
    if cfg.max_val_samples is not None and len(val) > cfg.max_val_samples:
        val = sorted(random.Random(config.seed).sample(val, cfg.max_val_samples), key=lambda s: str(s.path))
    return train, val


def load_splits(config: TrainConfig, spec: Any, transform: Transform | None) -> DataSplits:
    """Discover the samples and build the training dataset (augmentation from `data.augment`)."""
    from pinclip_sdk.training.data import ImageDataset

    train, val = select_samples(config)
    if transform is None:
        from pinclip_sdk.training.data.augment import AugmentConfig, build_train_transform

        transform = build_train_transform(AugmentConfig.from_dict(dict(config.data.augment)), spec)
    logger.info("training on %d images, validating on %d", len(train), len(val))
    return DataSplits(train=train, val=val, train_dataset=ImageDataset(train, transform))


# --------------------------------------------------------------------------------------- the run


@contextlib.contextmanager
def backend_settings(config: TrainConfig) -> Iterator[None]:
    """The run's kernel settings (deterministic algorithms, TF32 on CUDA) for the duration of the
    run; the previous settings are restored, so a library caller's process is left as it was."""
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    if config.deterministic:
        if torch.cuda.is_available():
            # cuBLAS is only reproducible with a fixed workspace (CUDA docs); must precede its first use
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    # TF32 keeps fp32 range with a 10-bit mantissa in matmuls; deterministic, and ignored on CPU
    torch.backends.cuda.matmul.allow_tf32 = config.tf32
    torch.backends.cudnn.allow_tf32 = config.tf32
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=True)
        torch.backends.cudnn.benchmark = previous[1]
        torch.backends.cuda.matmul.allow_tf32 = previous[2]
        torch.backends.cudnn.allow_tf32 = previous[3]


def _amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or config.amp == "off":
        return None
    if config.amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if config.amp == "bf16" else torch.float16


def _check_best_metric(dotted: str) -> None:
    """Fail before training, not after the first epoch, on a `best_metric` validation cannot produce."""
    from pinclip_sdk.training.metrics import METRIC_KEYS

    known = [f"mean.{k}" for k in METRIC_KEYS]
    if dotted not in known and not dotted.startswith("generators."):
        raise ConfigError(f"best_metric {dotted!r} is not a validation metric; use one of {', '.join(known)}")


def _lookup(metrics: dict[str, Any], dotted: str) -> float:
    node: Any = metrics
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            keys = ", ".join(sorted(metrics.get("mean", {}))) if isinstance(metrics.get("mean"), dict) else ""
            raise ConfigError(f"best_metric {dotted!r} is not in the validation metrics (mean keys: {keys})")
        node = node[part]
    return float("nan") if node is None else float(node)


class Trainer:
    """One training run; use `train()` unless you need the pieces."""

    def __init__(
        self,
        config: TrainConfig,
        ctx: DistContext,
        *,
        train_transform: Transform | None = None,
        resume: str | Path | None = None,
    ) -> None:
        self.config, self.ctx = config, ctx
        self.out_dir = Path(config.out_dir)
        self.resume_dir = Path(resume) if resume is not None else None
        if self.resume_dir is not None:
            self._check_resume_config()
        # data first: a bad dataset must fail before minutes of loading pretrained weights
        self.splits: DataSplits = load_splits(config, preprocess_spec_for(config.model), train_transform)
        if self.splits.val:
            _check_best_metric(config.best_metric)
        torch.manual_seed(config.seed)  # same initial weights on every rank
        if self.resume_dir is None:
            self.model: PiNCLIP = create_model(config.model, device=ctx.device)
        else:  # the checkpoint has every weight: no download, no text tower
            self.model = build_empty_model(config.model).to(ctx.device)
        self.state = TrainerState()
        self._build_optimiser()
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)  # 4-d weights only (convolutions)
        self.amp_dtype = _amp_dtype(config, ctx.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.accumulate_steps = config.optim.accumulate_steps
        self.sampler = RankBatches(len(self.splits.train), config.data.batch_size, ctx, config.seed, 0,
                                   accumulate=self.accumulate_steps)  # fmt: skip
        self.batches_per_epoch = self.sampler.num_batches()  # micro-batches, a whole number of steps
        self.steps_per_epoch = self.batches_per_epoch // self.accumulate_steps
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"{len(self.splits.train)} training images are fewer than one optimiser step's batch "
                f"({config.data.batch_size} x {ctx.world_size} processes x {self.accumulate_steps} "
                "accumulated); lower data.batch_size or optim.accumulate_steps"
            )
        self.total_steps = config.max_steps or config.epochs * self.steps_per_epoch
        self.wrapped: nn.Module = self.model
        if ctx.distributed:
            self.wrapped = nn.parallel.DistributedDataParallel(
                self.model,
                device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                broadcast_buffers=False,  # the only buffer (prompt embeddings) is constant
            )
        self._ddp = self.wrapped if ctx.distributed else None
        if config.compile != "off":  # after DDP, so its bucketing sees the compiled graph's gradients
            self.wrapped = torch.compile(self.wrapped, mode=config.compile)
        self._loader = self._build_loader()
        torch.manual_seed(config.seed + 1 + ctx.rank)  # noise/dropout streams differ per rank
        if self.resume_dir is not None:
            self._restore()
        self.recent: deque[dict[str, float]] = deque(maxlen=5)
        self.losses: list[float] = []
        # (step, epoch, loss terms on the device, grad norm, lr) of the steps since the last `flush`
        self._pending: list[tuple[int, int, dict[str, torch.Tensor], torch.Tensor | None, float]] = []
        self.last_metrics: dict[str, Any] = {}
        self.validated_at: int | None = None
        self._warned_sigma = False

    # ------------------------------------------------------------------ setup

    def _build_optimiser(self) -> None:
        decay, no_decay = [], []
        for _, param in self.model.trainable_parameters():
            (decay if param.ndim >= 2 else no_decay).append(param)
        if not decay and not no_decay:
            raise ConfigError("The model has no trainable parameters (check model.finetune and model.noise)")
        opt = self.config.optim
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": opt.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=opt.lr,
            betas=opt.betas,
            eps=opt.eps,
        )

    def _check_resume_config(self) -> None:
        saved = read_checkpoint_config(self.resume_dir).get("train")
        if saved is None:
            raise CheckpointError(f"{self.resume_dir} holds no run config; it cannot be resumed")
        current = to_dict(self.config)
        saved_model, current_model = dict(saved["model"]), dict(current["model"])
        if current_model.get("quick_gelu") is None:  # resolved on build; compare what was asked
            saved_model["quick_gelu"] = None
        saved, current = {**saved, "model": saved_model}, {**current, "model": current_model}
        differing = [k for k in diff_configs(saved, current) if k not in RESUMABLE_KEYS]
        if differing:
            detail = ", ".join(
                f"{k} ({get_dotted(saved, k)!r} -> {get_dotted(current, k)!r})" for k in differing[:10]
            )
            raise ConfigError(
                f"Cannot resume from {self.resume_dir}: the config differs in {detail}. Resume with the "
                f"original config (changeable: {', '.join(RESUMABLE_KEYS)}) or start a new run."
            )

    def _restore(self) -> None:
        from safetensors.torch import load_file

        state = load_trainer_state(self.resume_dir)
        weights = load_file(str(self.resume_dir / "model.safetensors"), device=str(self.ctx.device))
        load_state_strict(self.model, weights, str(self.resume_dir / "model.safetensors"))
        try:
            self.optimizer.load_state_dict(state.optimizer)
        except (ValueError, KeyError) as exc:
            raise CheckpointError(
                f"{self.resume_dir}: optimiser state does not fit the model: {exc}"
            ) from None
        if state.scaler:
            self.scaler.load_state_dict(state.scaler)
        restore_rng_state(self.ctx, state.rng)
        self.state = state
        logger.info("resumed from %s at step %d (epoch %d)", self.resume_dir, state.step, state.epoch)

    # ------------------------------------------------------------------ one step

    def _build_loader(self) -> DataLoader:
        """One loader for the whole run: its workers outlive an epoch (`data.persistent_workers`)."""
        from pinclip_sdk.training.data import collate

        data = self.config.data
        workers = data.num_workers
        return DataLoader(
            SeededItems(self.splits.train_dataset, self.config.seed),
            batch_sampler=self.sampler,
            collate_fn=collate,
            num_workers=workers,
            # the loader's own base seed must not consume the training RNG (resume exactness);
            # items are seeded by SeededItems, so the worker seeds do not matter
            generator=torch.Generator().manual_seed(self.config.seed),
            pin_memory=self.ctx.device.type == "cuda",
            persistent_workers=data.persistent_workers and workers > 0,
            prefetch_factor=data.prefetch_factor if workers > 0 else None,
        )

    def batches(self, epoch: int, start: int = 0) -> DataLoader:
        """The training loader positioned at (micro-)batch `start` of epoch `epoch`; iterate it once."""
        self.sampler.set_position(epoch, start)
        return self._loader

    def _forward_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One micro-batch's loss and its logged terms, as device tensors (no host sync)."""
        pixels = batch["pixels"].to(self.ctx.device, non_blocking=True)
        labels = batch["label"].to(self.ctx.device, non_blocking=True)
        if self.config.channels_last and pixels.ndim == 4:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        if pixels.shape[0] == 0:  # every image unreadable: still join the gradient all-reduce
            if self.model.feature_scale is not None:
                self.model.feature_scale.join()  # and the feature-scale one
            zero = sum((p * 0).sum() for _, p in self.model.trainable_parameters())
            return zero, {}
        autocast = (
            torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()
        )
        with autocast:
            out = self.wrapped(pixels, labels)
        kl = out.noise.kl_to_prior() if out.noise is not None else None
        terms = pin_loss(out.clean_logits, labels, self.config.loss, out.noisy_logits, kl)
        values = terms.as_tensors()
        if out.noise is not None:
            values.update(noise_statistics(out.noise, out.features))
            if "loss_noisy" in values and "loss_clean" in values:
                values["loss_gap"] = values["loss_noisy"] - values["loss_clean"]
        return terms.total, values

    def train_step(self, micro_batches: Iterable[dict[str, Any]]) -> None:
        """One optimiser step over `optim.accumulate_steps` micro-batches: forward and backward each
        (gradients all-reduced under DDP on the last one only), then clip and step. The loss terms
        (means over the micro-batches) stay on the device until `flush` (every `log_every` steps,
        before validation and saving), which checks them."""
        step = self.state.step
        lr = self.config.optim.lr * lr_factor(self.config.optim, step, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        terms: dict[str, list[torch.Tensor]] = {}
        seen = 0
        for batch in micro_batches:
            seen += 1
            last = seen == self.accumulate_steps
            sync = self._ddp.no_sync() if self._ddp is not None and not last else contextlib.nullcontext()
            with sync:
                loss, micro_values = self._forward_loss(batch)
                self.scaler.scale(loss / self.accumulate_steps).backward()
            for key, value in micro_values.items():
                terms.setdefault(key, []).append(value)
        if seen != self.accumulate_steps:
            raise TrainingError(
                f"step {step} got {seen} micro-batches; optim.accumulate_steps is {self.accumulate_steps}"
            )
        values = {key: torch.stack(parts).mean() for key, parts in terms.items()}
        grad_norm = None
        if self.config.optim.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            params = [p for _, p in self.model.trainable_parameters()]
            grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip).detach()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self._pending.append((step, self.state.epoch, values, grad_norm, lr))

    def flush(self) -> dict[str, float]:
        """Bring the pending steps' loss terms to the host (one all-reduce, one copy), check them,
        and return the last step's values ({} when nothing was pending).

        Raises:
            TrainingError: a step's loss terms were not finite (naming that step).
        """
        pending, self._pending = self._pending, []
        if not pending:
            return {}
        means, counts = step_means(self.ctx, [values for _, _, values, _, _ in pending], LOSS_KEYS)
        norms = torch.stack(
            [torch.full((), float("nan"), dtype=torch.float64, device=self.ctx.device) if g is None
             else g.to(self.ctx.device, torch.float64) for _, _, _, g, _ in pending]
        )  # fmt: skip
        table = torch.cat([means, counts, norms[:, None]], dim=1).tolist()  # the one host sync
        width = len(LOSS_KEYS)
        values: dict[str, float] = {}
        for (step, epoch, _, grad_norm, lr), row in zip(pending, table, strict=True):
            values = {k: row[i] for i, k in enumerate(LOSS_KEYS) if row[width + i] > 0}
            if not all(math.isfinite(v) for v in values.values()):
                last = list(self.recent)[-3:]
                raise TrainingError(
                    f"Non-finite loss at step {step} (epoch {epoch}): {values}. Last finite "
                    f"values: {last or 'none (first step)'}. Try a lower optim.lr, amp=off or "
                    "optim.grad_clip."
                )
            if grad_norm is not None:
                values["grad_norm"] = row[-1]
            values["lr"] = lr
            self.recent.append(values)
            self.losses.append(values.get("loss", float("nan")))
        self._check_noise_alive(values)
        return values

    def _check_noise_alive(self, values: dict[str, float]) -> None:
        """Warn (once per run) when sigma has shrunk below `noise.min_relative_sigma` of the features."""
        floor = self.config.model.noise.min_relative_sigma
        sigma = values.get("sigma_rel")
        if sigma is None or self._warned_sigma or not self.ctx.is_main or sigma >= floor:
            return
        self._warned_sigma = True
        logger.warning(
            "step %d: the noise has collapsed: sigma is %.3g of the features' std (below "
            "model.noise.min_relative_sigma = %g), so the noisy term is about the clean one again. "
            "Try noise.init = default, a KL prior (loss.kl_weight > 0) or noise.sigma_max.",
            self.state.step, sigma, floor,
        )  # fmt: skip

    def noise_summary(self) -> dict[str, float]:
        """The last logged noise statistics (sigma / feature std, |mu| / |f|, noisy - clean loss)."""
        last = self.recent[-1] if self.recent else {}
        return {k: last[k] for k in NOISE_KEYS if k in last}

    # ------------------------------------------------------------------ validation / saving

    def validate(self) -> dict[str, Any]:
        """Rank 0: score the validation set with noise off; returns `metrics.detection_metrics`."""
        from pinclip_sdk.training import evaluate, metrics

        val = self.splits.val
        was_training = self.model.training
        self.model.eval()
        # isolated RNG: evaluation must not shift the training trajectory
        devices = [self.ctx.device] if self.ctx.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            scores = evaluate.score_samples(
                self.model,
                val,
                self.model.preprocess_spec,
                batch_size=self.config.data.eval_batch_size,
                num_workers=self.config.data.num_workers,
                progress=False,
            )
        self.model.train(was_training)
        result = metrics.detection_metrics(
            [s.label for s in val], scores, [s.generator for s in val], threshold=0.0
        )
        self.last_metrics = result
        return result

    def save(self, name: str, *, resumable: bool, metrics: dict[str, Any] | None = None) -> Path:
        """Write `out_dir/<name>`; every rank must call it (RNG states are gathered), rank 0 writes."""
        self.flush()  # never save weights a non-finite step has touched
        if resumable:
            self.state.optimizer = self.optimizer.state_dict()
            self.state.scaler = self.scaler.state_dict() if self.scaler.is_enabled() else {}
            self.state.rng = gather_rng_states(self.ctx)
            self.state.last_losses = [r.get("loss", float("nan")) for r in self.recent]
        path = self.out_dir / name
        if self.ctx.is_main:
            save_checkpoint(
                path,
                self.model,
                self.config,
                trainer_state=self.state if resumable else None,
                metrics=metrics,
            )
        barrier(self.ctx)
        return path

    def maybe_validate(self, log_path: Path) -> None:
        """Validate on rank 0 and keep `best/` when the metric improved."""
        self.flush()  # every rank: it all-reduces
        self.validated_at = self.state.step
        if not self.splits.val or not self.ctx.is_main:
            return
        result = self.validate()
        value = _lookup(result, self.config.best_metric)
        write_jsonl(log_path, {"event": "val", "step": self.state.step, "epoch": self.state.epoch,
                               "mean": result.get("mean", {}), self.config.best_metric: value})  # fmt: skip
        best = self.state.best_value
        better = best is None or (value > best if self.config.best_mode == "max" else value < best)
        if math.isfinite(value) and better:
            self.state.best_value, self.state.best_step = value, self.state.step
            save_checkpoint(self.out_dir / "best", self.model, self.config, metrics=result)
            logger.info("step %d: %s = %.4f (new best)", self.state.step, self.config.best_metric, value)


@torch.no_grad()
def noise_statistics(noise: Any, features: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """sigma (absolute mean, and in feature-std units) and |mu| / |f| of one batch, on the device."""
    out = {"sigma_mean": noise.std.detach().float().mean(), "sigma_rel": noise.relative_std()}
    if features is not None:
        mu = noise.mean.detach().float().norm(dim=-1)
        out["mu_rel"] = (mu / features.detach().float().norm(dim=-1).clamp_min(1e-12)).mean()
    return out


def _progress(trainer: Trainer) -> Any:
    from tqdm import tqdm

    enabled = trainer.config.progress and trainer.ctx.is_main
    return tqdm(total=trainer.total_steps, initial=trainer.state.step, disable=not enabled,
                desc="train", unit="step", dynamic_ncols=True)  # fmt: skip


def _run_epoch(trainer: Trainer, log_path: Path, bar: Any) -> None:
    """The rest of the current epoch, or up to the last step."""
    cfg, state = trainer.config, trainer.state
    unreadable = 0

    def reported(batches: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        nonlocal unreadable
        for batch in batches:
            if batch["unreadable"]:
                unreadable += len(batch["unreadable"])
                logger.warning("skipped unreadable image(s): %s", [p for p, _ in batch["unreadable"]])
            yield batch

    accumulate = trainer.accumulate_steps
    batches = reported(trainer.batches(state.epoch, state.batch_in_epoch))
    for _ in range((trainer.batches_per_epoch - state.batch_in_epoch) // accumulate):
        trainer.train_step(itertools.islice(batches, accumulate))
        state.batch_in_epoch += accumulate
        bar.update(1)
        if state.step % cfg.log_every == 0 or state.step == 1:
            values = trainer.flush()  # every rank: it all-reduces
            if trainer.ctx.is_main:
                bar.set_postfix(loss=f"{values.get('loss', float('nan')):.4f}")
                write_jsonl(log_path, {"event": "train", "step": state.step, "epoch": state.epoch, **values})
        if cfg.eval_every and state.step % cfg.eval_every == 0:
            trainer.maybe_validate(log_path)
        if cfg.save_every and state.step % cfg.save_every == 0 and state.step < trainer.total_steps:
            trainer.save("last", resumable=True)
        if state.step >= trainer.total_steps:
            break
    if unreadable and trainer.ctx.is_main:
        write_jsonl(log_path, {"event": "unreadable", "epoch": state.epoch, "count": unreadable})


def run_loop(trainer: Trainer) -> TrainResult:
    """Steps until `max_steps` (or `epochs` worth); validation and checkpoints as configured."""
    cfg, state = trainer.config, trainer.state
    trainer.out_dir.mkdir(parents=True, exist_ok=True)
    log_path = trainer.out_dir / "metrics.jsonl"
    trainer.model.train()
    with _progress(trainer) as bar:
        while state.step < trainer.total_steps:
            _run_epoch(trainer, log_path, bar)
            if state.batch_in_epoch >= trainer.batches_per_epoch:
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
                if not cfg.eval_every:
                    trainer.maybe_validate(log_path)
                if not cfg.save_every and state.step < trainer.total_steps:
                    trainer.save("last", resumable=True)
    if trainer.validated_at != state.step:
        trainer.maybe_validate(log_path)
    noise = trainer.noise_summary()
    metrics = {**trainer.last_metrics, "noise": noise} if noise else trainer.last_metrics
    last = trainer.save("last", resumable=True, metrics=metrics)
    best = trainer.out_dir / "best"
    return TrainResult(
        out_dir=trainer.out_dir,
        last_checkpoint=last,
        best_checkpoint=best if (best / "config.json").is_file() else None,
        metrics=trainer.last_metrics,
        steps=state.step,
        losses=list(trainer.losses),
    )


def train(
    config: TrainConfig,
    *,
    resume: str | Path | None = None,
    train_transform: Transform | None = None,
) -> TrainResult:
    """Train PiN-CLIP as `config` says; works alone or in every process of a `torchrun` job.

    Args:
        config: the run (build it in code or with `config.from_dict` / `load_train_config`).
        resume: a checkpoint directory written by a previous run (usually `out_dir/last`).
        train_transform: replaces the augmentation built from `data.augment` (`PIL.Image -> Tensor`).

    Returns:
        paths of the last and best checkpoints and the final validation metrics.

    Raises:
        DatasetError: unusable dataset (before any training). ConfigError: bad or changed config.
        TrainingError: non-finite loss. CheckpointError: a resume checkpoint that does not fit.
    """
    ctx = init_distributed(config.device)
    try:
        with backend_settings(config):
            trainer = Trainer(config, ctx, train_transform=train_transform, resume=resume)
            return run_loop(trainer)
    finally:
        barrier(ctx)
        shutdown(ctx)


def _timestamp() -> float:
    return round(time.time(), 3)


def write_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line (rank 0 only calls this)."""
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({**record, "time": _timestamp()}, sort_keys=True) + "\n")
