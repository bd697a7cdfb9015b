"""Train a PiN-CLIP detector (single process, or every process of a torchrun job).

The run config is a preset (paper: ViT-L-14 openai + LoRA; edge: ViT-B-16; univfd: linear probe;
tiny: a seconds-long smoke test) merged with an optional YAML file and `--set key=value`
overrides, e.g.:

  pinclip train --preset edge --data /data/GenImage --out runs/edge --set optim.lr=1e-4
  pinclip train --config run.yaml --resume                      # continue runs/exp/last
  torchrun --nproc_per_node 4 -m pinclip_sdk.cli train --config run.yaml

Checkpoints: OUT/last (resumable) and OUT/best (best validation metric); OUT/metrics.jsonl logs
every term of the loss. Export the result with `pinclip export OUT/best -o model.pinclip`.
"""

from __future__ import annotations

import argparse
import json
import sys

from pinclip_sdk.training.config import apply_overrides, from_dict, to_dict
from pinclip_sdk.training.presets import PRESETS, build_config


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="YAML", help="run file (sections: model, data, loss, optim, ...)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="starting point (default: paper)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. optim.lr=1e-4 or model.noise.mode=none (repeatable)",
    )
    parser.add_argument("--data", metavar="PATH", help="training dataset (= --set data.train_path=PATH)")
    parser.add_argument("--val", metavar="PATH", help="validation dataset (= --set data.val_path=PATH)")
    parser.add_argument("--out", metavar="DIR", help="output directory (= --set out_dir=DIR)")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="CHECKPOINT",
        help="continue from a resumable checkpoint (default: OUT/last)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _config(args: argparse.Namespace):  # -> TrainConfig
    overrides = list(args.overrides)
    for flag, key in (("data", "data.train_path"), ("val", "data.val_path"), ("out", "out_dir")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    config = build_config(args.config, preset=args.preset, overrides=overrides)
    # round trip: what is printed or saved is exactly what runs
    return from_dict(type(config), apply_overrides(to_dict(config), []))


def run(args: argparse.Namespace) -> int:
    import yaml

    config = _config(args)
    if args.print_config:
        print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
        return 0
    from pathlib import Path

    from pinclip_sdk.training.trainer import train

    resume = None
    if args.resume is not None:
        resume = Path(args.resume) if args.resume else Path(config.out_dir) / "last"
    result = train(config, resume=resume)
    summary = {
        "out_dir": str(result.out_dir),
        "last_checkpoint": str(result.last_checkpoint),
        "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
        "steps": result.steps,
        "final_loss": result.losses[-1] if result.losses else None,
        "val_mean": result.metrics.get("mean", {}),
    }
    import os

    if os.environ.get("RANK", "0") != "0":
        return 0
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"trained {result.steps} steps; last checkpoint: {summary['last_checkpoint']}")
        if result.best_checkpoint:
            print(f"best checkpoint: {result.best_checkpoint}  ({config.best_metric} on validation)")
        for key, value in summary["val_mean"].items():
            print(f"  val {key}: {value}")
        chosen = result.best_checkpoint or result.last_checkpoint
        print(f"next: pinclip export {chosen} -o model.pinclip", file=sys.stdout)
    return 0
