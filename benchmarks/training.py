"""Training throughput: images/s and peak memory per configuration, data loading timed apart.

For each configuration (random init, LoRA, PiN noise on) it builds the real `Trainer` over a
generated folder of JPEG photos and measures, in a fresh process per configuration:
1. data: the training DataLoader alone in one process (decode through the SDK's decoder,
   augmentation, collate), median ms per batch: divide by the number of DataLoader workers to see
   whether they keep up with a step;
2. compute: `Trainer.train_step` on batches already in memory, after warm-up steps, ending with one
   `flush` (the loss terms' host sync), so images/s is what the GPU or CPU sustains;
3. peak memory: `torch.cuda.max_memory_allocated` on a GPU, else the process's peak RSS.
From images/s it prints an estimate, labelled as such, of one GenImage SD v1.4 epoch (324k images)
on this device. Figures are for this machine only; rerun to compare.

Usage:
    .venv/bin/python benchmarks/training.py [--configs tiny,vit-b-16,vit-l-14] [--steps 5] [--json]
        [--compile default] [--channels-last]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GENIMAGE_SDV14_TRAIN_IMAGES = 324_000
# name -> (open_clip backbone, image size or None for native, batch on CPU, batch on CUDA)
CONFIGS: dict[str, tuple[str, int | None, int, int]] = {
    "tiny": ("pinclip-tiny-vit", 32, 8, 256),
    "vit-b-16": ("ViT-B-16", None, 8, 128),
    "vit-l-14": ("ViT-L-14", None, 4, 64),
}


def _peak_memory_mb(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _time_steps(trainer: Any, steps: int, warmup: int) -> tuple[Any, list[float], float]:
    """Time the loader over one epoch alone (ms per batch), then `steps` optimiser steps on the
    batches in memory after `warmup` untimed ones (seconds, ending with the loss terms' host sync)."""
    import torch

    device = trainer.ctx.device
    loader_times, batches = [], []
    start = time.perf_counter()
    for item in trainer.batches(0):
        now = time.perf_counter()
        loader_times.append((now - start) * 1000.0)
        batches.append(item)
        start = time.perf_counter()
    trainer.model.train()
    for i in range(warmup):
        trainer.train_step([batches[i % len(batches)]])
    trainer.flush()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for i in range(steps):
        trainer.train_step([batches[(warmup + i) % len(batches)]])
    trainer.flush()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return trainer, loader_times, time.perf_counter() - start


def measure(
    name: str, steps: int, warmup: int, compile_mode: str = "off", channels_last: bool = False
) -> dict[str, Any]:
    """One configuration's figures (run in its own process, so peak RSS is its own)."""
    import torch

    from pinclip_sdk.training.config import DataConfig, LoRAConfig, ModelConfig, NoiseConfig, TrainConfig
    from pinclip_sdk.training.data.dataset_testing import make_folder_dataset
    from pinclip_sdk.training.distributed import init_distributed
    from pinclip_sdk.training.trainer import Trainer, backend_settings

    backbone, image_size, cpu_batch, cuda_batch = CONFIGS[name]
    ctx = init_distributed("auto")  # a world of one: cuda:0 when there is a GPU, else the CPU
    device = ctx.device
    batch = cuda_batch if device.type == "cuda" else cpu_batch
    with tempfile.TemporaryDirectory(prefix="pinclip-train-bench-") as tmp:
        batches_needed = warmup + steps
        data = make_folder_dataset(
            Path(tmp) / "data", n_per_class=batch * max(2, min(batches_needed, 8)) // 2, size=256
        )
        config = TrainConfig(
            model=ModelConfig(
                backbone=backbone,
                pretrained=None,
                image_size=image_size,
                lora=LoRAConfig(rank=6, alpha=6.0),
                noise=NoiseConfig(mode="pin"),
            ),
            data=DataConfig(train_path=str(data), batch_size=batch, num_workers=0, val_fraction=0.0),
            out_dir=str(Path(tmp) / "run"),
            max_steps=batches_needed,
            progress=False,
            deterministic=False,
            compile=compile_mode,
            channels_last=channels_last,
        )
        with backend_settings(config):  # TF32 on CUDA, as a training run has it
            trainer, loader_times, elapsed = _time_steps(Trainer(config, ctx), steps, warmup)
    images_per_s = steps * batch / elapsed
    return {
        "config": name,
        "backbone": backbone,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)",
        "batch_size": batch,
        "precision": str(trainer.amp_dtype).replace("torch.", "") if trainer.amp_dtype else "float32",
        "compile": compile_mode,
        "channels_last": channels_last,
        "steps": steps,
        "images_per_s": round(images_per_s, 2),
        "step_ms": round(elapsed / steps * 1000.0, 1),
        "peak_memory_mb": round(_peak_memory_mb(device), 1),
        "data_loading_ms": round(statistics.median(loader_times[1:] or loader_times), 1),
        "data_loading_images_per_s": round(
            batch / (statistics.median(loader_times[1:] or loader_times) / 1000.0), 1
        ),
        "genimage_sdv14_epoch_hours_estimate": round(GENIMAGE_SDV14_TRAIN_IMAGES / images_per_s / 3600.0, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs", default="tiny,vit-b-16,vit-l-14", help=f"comma-separated: {', '.join(CONFIGS)}"
    )
    parser.add_argument("--steps", type=int, default=5, help="timed optimiser steps per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument(
        "--compile",
        default="off",
        choices=("off", "default", "reduce-overhead", "max-autotune"),
        help="torch.compile mode of the training forward (compiling is part of the warm-up steps)",
    )
    parser.add_argument("--channels-last", action="store_true", help="channels-last pixels and conv weights")
    parser.add_argument("--json", action="store_true", help="print one JSON object per configuration")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one config in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.warmup, args.compile, args.channels_last)))
        return 0
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or args.steps < 1 or args.warmup < 0:
        parser.error(f"unknown configs {unknown} (choose from {list(CONFIGS)}), or steps < 1 / warmup < 0")
    failed = False
    for name in names:
        command = [sys.executable, str(Path(__file__).resolve()), "--one", name, "--steps", str(args.steps)]
        command += ["--warmup", str(args.warmup), "--compile", args.compile]
        command += ["--channels-last"] if args.channels_last else []
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())
        if done.returncode != 0:
            failed = True
            print(f"{name}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
            continue
        report = json.loads(done.stdout.strip().splitlines()[-1])
        if args.json:
            print(json.dumps(report))
        else:
            print(
                f"{name:<9} {report['device']:<22} batch {report['batch_size']:>3} {report['precision']:<8} "
                f"{report['images_per_s']:>8.2f} img/s  step {report['step_ms']:>8.1f} ms  "
                f"peak {report['peak_memory_mb']:>7.0f} MB  data {report['data_loading_ms']:>7.1f} ms/batch  "
                f"(estimate: one GenImage SDv1.4 epoch {report['genimage_sdv14_epoch_hours_estimate']} h)"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
