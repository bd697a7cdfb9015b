"""Evaluate a checkpoint: per-generator metrics at a fixed threshold, optional robustness grid.

The threshold is a p_fake value (default 0.5) or is chosen for a target false-positive rate on the
reals of a separate calibration set (--target-fpr with --calib), never on the evaluated labels.
The robustness grid (JPEG quality x blur sigma x downscale) keeps that same threshold throughout.

Examples:
  pinclip eval runs/pin/best GenImage/ --split val --out reports/genimage
  pinclip eval runs/pin/best AIGIBench/ --split test --target-fpr 0.05 --calib AIGIBench/ \\
      --calib-split val --robustness --jpeg none,90,75,50 --blur 0,1,2 --downscale 1,0.5 --out reports/aigi
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pinclip_sdk.errors import ConfigError, DatasetError


def _numbers(kind: type, allow_none: bool = False):
    def parse(text: str) -> tuple:
        values = []
        for item in text.split(","):
            item = item.strip()
            if allow_none and item.lower() in ("none", "-"):
                values.append(None)
                continue
            try:
                values.append(kind(item))
            except ValueError:
                raise argparse.ArgumentTypeError(f"{item!r} is not a {kind.__name__}") from None
        return tuple(values)

    return parse


def configure(parser: argparse.ArgumentParser) -> None:
    from pinclip_sdk.training.data import LAYOUTS

    parser.add_argument(
        "checkpoint", type=Path, help="checkpoint directory (config.json + model.safetensors)"
    )
    parser.add_argument("data", type=Path, help="dataset folder or CSV/JSONL image list")
    parser.add_argument("--layout", default="auto", choices=LAYOUTS, help="dataset layout (default: detect)")
    parser.add_argument("--split", default=None, help="evaluate only this split (e.g. val, test, jpeg)")
    decision = parser.add_mutually_exclusive_group()
    decision.add_argument("--threshold", type=float, default=None, help="p_fake threshold (default 0.5)")
    decision.add_argument(
        "--target-fpr",
        type=float,
        default=None,
        help="choose the threshold for this false-positive rate on --calib reals",
    )
    parser.add_argument("--calib", type=Path, default=None, help="held-out set whose reals set the threshold")
    parser.add_argument("--calib-split", default=None, help="split of --calib to use (e.g. val)")
    parser.add_argument("--calib-layout", default="auto", choices=LAYOUTS)
    parser.add_argument("--robustness", action="store_true", help="also run the degradation grid")
    parser.add_argument(
        "--jpeg",
        type=_numbers(int, allow_none=True),
        default=(None, 75, 30),
        help="JPEG qualities, 'none' = no re-encoding (default none,75,30)",
    )
    parser.add_argument(
        "--blur", type=_numbers(float), default=(0.0, 1.0, 3.0), help="blur sigmas (default 0,1,3)"
    )
    parser.add_argument(
        "--downscale", type=_numbers(float), default=(1.0, 0.5), help="scale factors (default 1,0.5)"
    )
    parser.add_argument("--max-images", type=int, default=None, help="robustness: stratified subset size")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers decoding images"
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1)")
    parser.add_argument(
        "--out", type=Path, default=None, help="write metrics/robustness JSON, Markdown, PNG here"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _threshold(args: argparse.Namespace, model: Any, spec: Any, samples: list) -> dict[str, Any]:
    from pinclip_sdk.training import evaluate
    from pinclip_sdk.training.data import discover

    if args.target_fpr is None:
        p_fake = 0.5 if args.threshold is None else args.threshold
        if not 0.0 < p_fake < 1.0:
            raise ConfigError(f"--threshold is a p_fake value and must be in (0, 1), got {p_fake}")
        method = "default" if args.threshold is None else "fixed"
        return {"p_fake": p_fake, "logit": evaluate.logit(p_fake), "method": method}
    calib = discover(args.calib, args.calib_layout, args.calib_split, allow_single_class=True)
    overlap = {s.path for s in calib if s.label == 0} & {s.path for s in samples}
    if overlap:
        raise DatasetError(
            f"{len(overlap)} calibration reals are also in the evaluated set (e.g. {sorted(overlap)[0]}); "
            "choose the threshold on held-out reals (e.g. --calib-split val with --split test)"
        )
    info = evaluate.calibrate_model_threshold(
        model,
        calib,
        spec,
        args.target_fpr,
        args.batch_size,
        num_workers=args.workers,
        progress=not args.no_progress,
    )
    return {**info, "calibration": str(args.calib), "calibration_split": args.calib_split}


def _group_by_split(found: Any) -> None:
    """Several splits evaluated together: score each (split, generator) as its own generator.

    Otherwise AIGIBench's `test/SDXL` and `jpeg/SDXL` (or GenImage's train and val) would be pooled.
    """
    import dataclasses

    splits = {s.split for s in found.samples}
    if len(splits) > 1:
        found.samples = [
            dataclasses.replace(s, generator=f"{s.split or '-'}/{s.generator}") for s in found.samples
        ]
        found.notes.append(
            f"{len(splits)} splits evaluated together (no --split): generators are split/generator"
        )


def build_report(args: argparse.Namespace) -> tuple[dict[str, Any], list, Any]:
    """Run the evaluation described by the parsed arguments; returns (report, samples, logits)."""
    from pinclip_sdk.training import evaluate, robustness
    from pinclip_sdk.training.checkpoint import load_model, read_checkpoint_config
    from pinclip_sdk.training.data import scan

    found = scan(args.data, args.layout, args.split, allow_single_class=True)
    _group_by_split(found)
    model, model_config = load_model(args.checkpoint, device=args.device)
    spec = model.preprocess_spec
    threshold = _threshold(args, model, spec, found.samples)
    progress = not args.no_progress
    result, scores = evaluate.evaluate_samples(
        model,
        found.samples,
        spec,
        threshold["logit"],
        args.batch_size,
        num_workers=args.workers,
        progress=progress,
    )
    report: dict[str, Any] = {
        "checkpoint": str(args.checkpoint),
        "data": str(found.root),
        "layout": found.layout,
        "split": args.split,
        "n_images": len(found.samples),
        "notes": found.notes,
        "preprocess": spec.to_dict(),
        "threshold": threshold,
        "metrics": result,
        "training_noise": _training_noise(model_config, read_checkpoint_config(args.checkpoint)),
    }
    if args.robustness:
        cfg = robustness.RobustnessConfig(args.jpeg, args.blur, args.downscale, args.max_images)
        grid = robustness.run_robustness(
            model,
            found.samples,
            spec,
            threshold["logit"],
            cfg,
            args.batch_size,
            num_workers=args.workers,
            progress=progress,
        )
        report["robustness"] = {
            **grid,
            "threshold_p_fake": threshold["p_fake"],
            "threshold_method": threshold["method"],
        }
    return report, found.samples, scores.logits


def _training_noise(model_config: Any, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """What noise the model trained with, its final size (as the trainer logged it) and what scored."""
    noise = model_config.noise
    final = (checkpoint.get("metrics") or {}).get("noise") or {}
    return {
        "mode": noise.mode,
        "injection": noise.injection,
        "sigma_scale": noise.sigma_scale,
        "scored_with": noise.inference,
        **{key: final[key] for key in ("sigma_rel", "mu_rel", "loss_gap") if key in final},
    }


def _noise_line(noise: dict[str, Any]) -> str:
    line = f"Training noise: {noise['mode']} at {noise['injection']}"
    if "sigma_rel" in noise:
        unit = "of the feature std" if noise["sigma_scale"] == "feature_std" else "(absolute)"
        line += f", final sigma {noise['sigma_rel']:.3g} {unit}"
    if "mu_rel" in noise:
        line += f", |mu| / |f| {noise['mu_rel']:.3g}"
    if "loss_gap" in noise:
        line += f", noisy - clean loss {noise['loss_gap']:.3g}"
    return line + f"; scored with inference noise {noise['scored_with']}"


def _summary(report: dict[str, Any]) -> str:
    from pinclip_sdk.training import reporting

    t = report["threshold"]
    lines = [
        f"{report['data']} ({report['layout']}, split {report['split'] or 'all'}): "
        f"{report['n_images']} images",
        f"threshold p_fake >= {t['p_fake']:.6g} (logit {t['logit']:.4g}, {t['method']}"
        + (
            f", target FPR {t['target_fpr']:g} on {t['n_reals']} calibration reals"
            if "target_fpr" in t
            else ""
        )
        + ")",
    ]
    lines += [f"Note: {note}" for note in report["notes"]]
    if report.get("training_noise"):
        lines.append(_noise_line(report["training_noise"]))
    lines += ["", reporting.metrics_markdown(report["metrics"])]
    unreadable = report["metrics"]["unreadable"]["count"]
    if unreadable:
        lines.append(f"\n{unreadable} unreadable image(s) left out (listed in metrics.json)")
    if report.get("robustness"):
        lines += [
            "",
            "Robustness (means over generators, fixed threshold):",
            "",
            reporting.robustness_markdown(report["robustness"]),
        ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from pinclip_sdk.training import reporting

    if (args.target_fpr is None) != (args.calib is None):
        print(
            "pinclip eval: error: --target-fpr and --calib go together (the threshold is chosen for the "
            "target FPR on the reals of the held-out --calib set)",
            file=sys.stderr,
        )
        return 2
    report, samples, logits = build_report(args)
    if args.out is not None:
        written = reporting.write_reports(args.out, report)
        written.append(reporting.write_scores(args.out / "scores.csv", samples, logits))
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    if args.json:
        print(reporting.to_json(report))
    else:
        print(_summary(report))
    return 0
