"""Views on the offline proxy benchmark: what part of a larger image the model sees, compared.

    python benchmarks/views.py [--work bench_views] [--seeds 0,1,2] [--steps 1200] [--jobs 2]
                               [--views resize,crop,tiles,patches] [--size 128] [--quick]

The default proxy's images are as large as the model input (64 px), so every view sees the same
pixels. This benchmark builds (and caches under `--work`) a proxy variant with larger images
(`--size`, 128 px by default) and keeps the model input at 64 px (`--image-size`), so the views
differ: `resize` (open_clip's resize + centre crop: a 2x downscale that blurs the generators'
few-pixel traces), `crop` (a native 64-px centre crop, no resampling), `tiles` (a 2x2 grid of
native crops, their logits averaged) and `patches` (the DGS-Net patch-selection mosaic of
`--patch-size` patches; 16 px makes a 4x4 mosaic). Training follows each view (random resized crops,
random native crops, random mosaics). Why 128 px: the proxy's real images are crops of the photos
scikit-image, scikit-learn and matplotlib ship, cut 70/30 into train / val regions; at 160 px only
7 photos have val regions that large and at 192 px or more fewer than the 6 the builder needs
(256 px: 2), while at 128 px 15 of the 16 remain.

Protocol (as `benchmarks/accuracy.py`): train the default variant (`pin` noise, cosine head, noise
on a block's tokens) on one family's `train` split, choose the threshold on reals held out from
that split for a 5% FPR, test on the `val` split of every family, for each view and seed. Writes
`results.json` (every run's metrics, spec and the preprocessing its checkpoint records) and
`results.md` (per view: unseen-family accuracy and AP, trained-family AP, mean +- std over seeds;
per run; per test family) under `--work`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from pinclip_sdk.training.proxy import ProxyConfig, build_proxy
from pinclip_sdk.training.proxy.protocol import (
    RunSpec,
    evaluate_run,
    generator_name,
    metrics_table,
    train_run,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_grid import grid_parser, per_family_table, plus_minus, run_grid, stats, unseen_mean  # noqa: E402

VIEWS = ("resize", "crop", "tiles", "patches")
BASELINE = "resize"  # open_clip's transform, the SDK's default view
NOISE = "pin"  # the SDK's default variant


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = grid_parser(__doc__, "bench_views", 1200)
    parser.add_argument("--views", default=",".join(VIEWS), help="comma-separated subset of the views")
    parser.add_argument("--size", type=int, default=128, help="side of the proxy images (default 128)")
    parser.add_argument("--image-size", type=int, default=64, help="model input side (default 64)")
    parser.add_argument(
        "--patch-size", type=int, default=16, help="patches view: side of the mosaic's patches (default 16)"
    )
    parser.add_argument(
        "--train-per-class", type=int, default=800, help="proxy train images per class (default 800)"
    )
    parser.add_argument(
        "--val-per-class", type=int, default=150, help="proxy val (test) images per class (default 150)"
    )
    return parser.parse_args(argv)


def view_fields(view: str, args: argparse.Namespace) -> dict:
    """The `RunSpec` fields of one view."""
    if view == "tiles":
        return {"view": "tiles", "tile_grid": (2, 2), "tile_reduce": "mean"}
    if view == "patches":
        return {"view": "patches", "patch_size": args.patch_size}
    return {"view": view}


def _checkpoint_preprocess(checkpoint: Path) -> dict:
    """The preprocessing the trained model records (to confirm the view it was trained and scored with)."""
    from pinclip_sdk.training import checkpoint as ckpt

    model, _ = ckpt.load_model(checkpoint)
    return model.preprocess_spec.to_dict()


def run_one(view: str, seed: int, args: argparse.Namespace, proxy: Path) -> dict:
    """Train and evaluate one view for one seed; returns its metric dict (with spec and timings)."""
    batch = 16 if args.quick else 32
    spec = RunSpec(
        family=args.family,
        noise=NOISE,
        seed=seed,
        steps=args.steps,
        batch_size=batch,
        image_size=args.image_size,
        **view_fields(view, args),
    )
    started = time.perf_counter()
    outcome = train_run(spec, proxy, args.work / "runs")
    evaluated = time.perf_counter()
    result = evaluate_run(outcome, proxy)
    result["train_seconds"] = round(outcome.train_seconds, 1)
    result["eval_seconds"] = round(time.perf_counter() - evaluated, 1)
    result["final_loss"] = outcome.final_loss
    result["spec"] = asdict(spec)
    result["run_name"] = spec.name
    result["preprocess"] = _checkpoint_preprocess(outcome.checkpoint)
    train_generator = generator_name(args.family)
    print(
        f"  {view:<8} seed {seed}: unseen acc {100 * unseen_mean(result, train_generator, 'acc'):.1f}"
        f"  unseen AP {100 * unseen_mean(result, train_generator, 'ap'):.1f}"
        f"  train-family AP {100 * result['generators'][train_generator]['ap']:.1f}"
        f"  ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return result


def _gap(result: dict) -> float:
    return result.get("shortcut", {}).get("mean", {}).get("gap", math.nan)


def view_table(runs: dict[str, list[dict]], train_generator: str) -> str:
    """Markdown: one row per view, mean ± std over seeds (in %), and the difference to `resize`."""
    lines = [
        "| view | unseen-family acc | unseen-family AP | train-family AP | train-family acc | mean acc | "
        f"shortcut gap | Δ unseen acc vs {BASELINE} | Δ unseen AP vs {BASELINE} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base_acc = stats([unseen_mean(r, train_generator, "acc") for r in runs.get(BASELINE, [])])[0]
    base_ap = stats([unseen_mean(r, train_generator, "ap") for r in runs.get(BASELINE, [])])[0]
    for view, results in runs.items():
        acc = [unseen_mean(r, train_generator, "acc") for r in results]
        ap = [unseen_mean(r, train_generator, "ap") for r in results]
        d_acc = 100 * (stats(acc)[0] - base_acc)
        d_ap = 100 * (stats(ap)[0] - base_ap)
        lines.append(
            f"| {view} | {plus_minus(acc)} | {plus_minus(ap)} | "
            f"{plus_minus([r['generators'][train_generator]['ap'] for r in results])} | "
            f"{plus_minus([r['generators'][train_generator]['acc'] for r in results])} | "
            f"{plus_minus([r['mean']['acc'] for r in results])} | {plus_minus([_gap(r) for r in results])} | "
            f"{d_acc:+.1f} | {d_ap:+.1f} |"
        )
    return "\n".join(lines)


def verdict(runs: dict[str, list[dict]], train_generator: str) -> str:
    """Each native view against `resize` on unseen-family accuracy, against twice the seed spread."""
    if BASELINE not in runs:
        return f"(`{BASELINE}` not run: no comparison)"
    base, base_std = stats([unseen_mean(r, train_generator, "acc") for r in runs[BASELINE]])
    lines = [] if len(runs[BASELINE]) > 1 else ["- (one seed: no spread to compare against)"]
    for view, results in runs.items():
        if view == BASELINE:
            continue
        mean, std = stats([unseen_mean(r, train_generator, "acc") for r in results])
        margin = 2 * max(std, base_std)
        diff = mean - base
        word = "better than" if diff > margin else "worse than" if diff < -margin else "not separable from"
        lines.append(
            f"- `{view}` vs `{BASELINE}` on unseen-family accuracy: {100 * diff:+.1f} points, "
            f"2 std of the seed spread = {100 * margin:.1f}: **{word}** `{BASELINE}`"
        )
    return "\n".join(lines)


def per_run_table(runs: dict[str, list[dict]], train_generator: str) -> str:
    """Markdown: every run's figures (in %), its training and scoring time."""
    lines = [
        "| view | seed | run | unseen acc | unseen AP | train-family AP | train-family acc | mean acc | "
        "shortcut gap | achieved FPR | final loss | train s | eval s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for view, results in runs.items():
        for r in results:
            row = r["generators"][train_generator]
            lines.append(
                f"| {view} | {r['spec']['seed']} | {r['run_name']} | "
                f"{100 * unseen_mean(r, train_generator, 'acc'):.1f} | "
                f"{100 * unseen_mean(r, train_generator, 'ap'):.1f} | {100 * row['ap']:.1f} | "
                f"{100 * row['acc']:.1f} | {100 * r['mean']['acc']:.1f} | {100 * _gap(r):+.1f} | "
                f"{100 * r['calibration']['achieved_fpr']:.1f} | {r['final_loss']:.3f} | "
                f"{r['train_seconds']:.0f} | {r['eval_seconds']:.0f} |"
            )
    return "\n".join(lines)


def proxy_config(args: argparse.Namespace) -> ProxyConfig:
    """The large proxy (`--quick`: a tiny one, 64-px images for a 32-px model input)."""
    cfg = ProxyConfig(
        seed=args.proxy_seed,
        size=args.size,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        shortcut_cue=args.shortcut_cue,
    )
    if args.quick:
        cfg = replace(cfg, size=64, train_per_class=48, val_per_class=16, generator_steps=40, patch=16)
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work = args.work.expanduser().resolve()
    if args.quick:
        args.image_size, args.patch_size = 32, 8
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        print(f"unknown views {unknown}; known: {', '.join(VIEWS)}", file=sys.stderr)
        return 2
    cfg = proxy_config(args)
    if cfg.size <= args.image_size:
        print(
            f"proxy size {cfg.size} <= model input {args.image_size}: every view sees the same pixels",
            file=sys.stderr,
        )
    started = time.perf_counter()
    summary = build_proxy(args.work / "proxy", cfg)
    state = "cached" if summary.cached else f"built in {summary.seconds:.0f} s"
    print(f"proxy benchmark: {summary.root} ({state}), {cfg.size} px images, model input {args.image_size}")
    print(summary.sharpness_table(), flush=True)
    train_generator = generator_name(args.family)
    grid_started = time.perf_counter()
    runs = run_grid(run_one, views, seeds, args.jobs, args, args.work / "proxy")
    grid_seconds = time.perf_counter() - grid_started
    first = runs[views[0]][0]
    sections = [
        f"Proxy: {cfg.size}-px images ({cfg.train_per_class} train / {cfg.val_per_class} val images per "
        f"class and family, proxy seed {cfg.seed}, shortcut cue {cfg.shortcut_cue:g} levels on the train "
        f"fakes; {state}); model input {args.image_size} px; noise `{NOISE}`; trained on "
        f"`{train_generator}`, {args.steps} steps, seeds {seeds}; tiles 2x2 mean, patches "
        f"{args.patch_size} px; threshold for a {first['calibration']['target_fpr']:.0%} FPR on "
        f"{first['calibration']['n_reals']} held-out train reals. Grid: {len(views) * len(seeds)} runs, "
        f"{args.jobs} at a time, {grid_seconds:.0f} s.",
        "\n### Views (mean ± std over seeds, in %)\n",
        view_table(runs, train_generator),
        "\n" + verdict(runs, train_generator),
        "\n### Every run (in %)\n",
        per_run_table(runs, train_generator),
        "\n### Accuracy per test family (mean ± std over seeds, in %)\n",
        per_family_table(runs, train_generator, "acc"),
        "\n### AP per test family (mean ± std over seeds, in %)\n",
        per_family_table(runs, train_generator, "ap"),
        f"\n### Protocol table: `{views[0]}`, seed {seeds[0]}\n",
        metrics_table(first, train_generator),
    ]
    markdown = "\n".join(sections)
    print("\n" + markdown)
    total = time.perf_counter() - started
    record = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "proxy": summary.to_dict(),
        "runs": runs,
        "grid_seconds": round(grid_seconds, 1),
        "seconds": round(total, 1),
    }
    (args.work / "results.json").write_text(
        json.dumps(record, indent=2, default=float) + "\n", encoding="utf-8"
    )
    (args.work / "results.md").write_text(markdown + "\n", encoding="utf-8")
    print(f"\nresults: {args.work / 'results.json'}\ntotal {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
