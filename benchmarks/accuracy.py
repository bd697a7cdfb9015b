"""Accuracy on the offline proxy benchmark: the train-on-one-family protocol and the PiN ablation.

    python benchmarks/accuracy.py [--work bench_accuracy] [--seeds 0,1,2] [--steps 2400] [--family tconv]

Protocol (the shape of the paper's GenImage table): train on one generator family's `train` split,
choose the threshold on reals held out from that split for a target FPR (never on test labels),
test on the `val` split of every family; report per-family real / fake accuracy, accuracy and AP
and their means over families. Ablation: noise `none` vs `random` vs `pin` (full fine-tuning of the
tiny random-init ViT), and the UnivFD-style linear probe on the frozen backbone, each over several
seeds (mean +- std). Differences are printed against the `none` variant measured in the same run.
Writes `results.json`, `results.md` and `ablation.png` under `--work` (or `--plot`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from pinclip_sdk.training.proxy import ProxyConfig, build_proxy
from pinclip_sdk.training.proxy.protocol import (
    RunSpec,
    evaluate_run,
    generator_name,
    metrics_table,
    train_run,
)

# variant name -> (finetune, noise); the probe trains only the head on frozen random-init features
VARIANTS: dict[str, tuple[str, str]] = {
    "none": ("full", "none"),
    "random": ("full", "random"),
    "pin": ("full", "pin"),
    "linear probe (frozen)": ("frozen", "none"),
}
BASELINE = "none"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench_accuracy"), help="work folder (proxy, runs)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    parser.add_argument("--steps", type=int, default=2400, help="training steps per run (default 2400)")
    parser.add_argument("--family", default="tconv", help="family trained on (default tconv)")
    parser.add_argument("--proxy-seed", type=int, default=0, help="seed of the proxy build (default 0)")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated subset of the variants"
    )
    parser.add_argument(
        "--plot", type=Path, default=None, help="where to write the PNG (default WORK/ablation.png)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that the script runs")
    return parser.parse_args(argv)


def run_variant(name: str, seeds: list[int], args: argparse.Namespace, proxy: Path, size: int) -> list[dict]:
    """Train and evaluate one variant for every seed; returns the metric dicts in seed order."""
    finetune, noise = VARIANTS[name]
    results = []
    for seed in seeds:
        # the probe has only a head to fit: a higher rate, as UnivFD's probe uses
        lr = 1e-2 if finetune == "frozen" else 1e-3
        batch = 16 if args.quick else 32
        spec = RunSpec(args.family, noise, finetune, seed, args.steps, batch, lr, image_size=size)
        started = time.perf_counter()
        outcome = train_run(spec, proxy, args.work / "runs")
        result = evaluate_run(outcome, proxy)
        result["train_seconds"] = round(outcome.train_seconds, 1)
        result["final_loss"] = outcome.final_loss
        result["spec"] = asdict(spec)
        results.append(result)
        print(
            f"  {name:<22} seed {seed}: mean acc {100 * result['mean']['acc']:.1f}  mean AP "
            f"{100 * result['mean']['ap']:.1f}  ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    return results


def _stats(values: list[float]) -> tuple[float, float]:
    array = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if array.size == 0:
        return math.nan, math.nan
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def _pm(values: list[float]) -> str:
    mean, std = _stats(values)
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def unseen_mean(result: dict, train_generator: str, key: str) -> float:
    """Mean of `key` over the families not trained on."""
    values = [row[key] for name, row in result["generators"].items() if name != train_generator]
    return float(np.mean(values))


def ablation_table(runs: dict[str, list[dict]], train_generator: str) -> str:
    """Markdown: one row per variant, mean ± std over seeds, and the difference to `none`."""
    lines = [
        "| variant | mean acc | mean AP | real acc | fake acc | unseen-family acc | train-family acc | "
        f"Δ acc vs {BASELINE} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = _stats([r["mean"]["acc"] for r in runs.get(BASELINE, [])])[0]
    for name, results in runs.items():
        accs = [r["mean"]["acc"] for r in results]
        delta = (_stats(accs)[0] - base) * 100 if not math.isnan(base) else math.nan
        lines.append(
            f"| {name} | {_pm(accs)} | {_pm([r['mean']['ap'] for r in results])} | "
            f"{_pm([r['mean']['real_acc'] for r in results])} | "
            f"{_pm([r['mean']['fake_acc'] for r in results])} | "
            f"{_pm([unseen_mean(r, train_generator, 'acc') for r in results])} | "
            f"{_pm([r['generators'][train_generator]['acc'] for r in results])} | {delta:+.1f} |"
        )
    return "\n".join(lines)


def per_family_table(runs: dict[str, list[dict]], train_generator: str) -> str:
    """Markdown: accuracy per test family (rows) and variant (columns), mean ± std over seeds."""
    names = list(next(iter(runs.values()))[0]["generators"])
    lines = ["| test family | " + " | ".join(runs) + " |", "|---|" + "---:|" * len(runs)]
    for gen in names:
        label = f"{gen} (train)" if gen == train_generator else gen
        cells = [_pm([r["generators"][gen]["acc"] for r in results]) for results in runs.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: dict[str, list[dict]], train_generator: str, path: Path) -> Path:
    """Grouped bars: accuracy per test family for each variant, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(runs.values()))[0]["generators"]) + ["mean"]
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=90)
    for index, (variant, results) in enumerate(runs.items()):
        stats = [_stats([r["generators"][g]["acc"] for r in results]) for g in names[:-1]]
        stats.append(_stats([r["mean"]["acc"] for r in results]))
        xs = np.arange(len(names)) + (index - (len(runs) - 1) / 2) * width
        ax.bar(
            xs, [100 * m for m, _ in stats], width, yerr=[100 * s for _, s in stats], label=variant, capsize=2
        )
    labels = [n.removeprefix("proxy_") + ("\n(train)" if n == train_generator else "") for n in names]
    ax.set_xticks(np.arange(len(names)), labels)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.axhline(50, color="grey", linewidth=0.6, linestyle="--")
    ax.set_title("Proxy benchmark: train on one family, test on all (mean ± std over seeds)", fontsize=9)
    ax.legend(fontsize=7, ncol=len(runs), loc="lower center")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work = args.work.expanduser().resolve()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        print(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    proxy_cfg = ProxyConfig(seed=args.proxy_seed)
    if args.quick:
        proxy_cfg = replace(
            proxy_cfg, size=32, train_per_class=48, val_per_class=16, generator_steps=40, patch=16
        )
    started = time.perf_counter()
    summary = build_proxy(args.work / "proxy", proxy_cfg)
    state = "cached" if summary.cached else f"built in {summary.seconds:.0f} s"
    print(f"proxy benchmark: {summary.root} ({state})")
    print(summary.sharpness_table(), flush=True)
    train_generator = generator_name(args.family)
    runs = {name: run_variant(name, seeds, args, args.work / "proxy", proxy_cfg.size) for name in variants}
    first = runs[variants[0]][0]
    sections = [
        f"Trained on `{train_generator}`, {args.steps} steps, seeds {seeds}, proxy seed {args.proxy_seed}; "
        f"threshold for a {first['calibration']['target_fpr']:.0%} FPR on "
        f"{first['calibration']['n_reals']} held-out train reals.",
        f"\n### Protocol table: `{variants[0]}`, seed {seeds[0]}\n",
        metrics_table(first, train_generator),
        "\n### Ablation (mean ± std over seeds, in %)\n",
        ablation_table(runs, train_generator),
        "\n### Accuracy per test family (mean ± std over seeds, in %)\n",
        per_family_table(runs, train_generator),
    ]
    markdown = "\n".join(sections)
    print("\n" + markdown)
    png = plot(runs, train_generator, args.plot or args.work / "ablation.png")
    total = time.perf_counter() - started
    record = {"args": {k: str(v) for k, v in vars(args).items()}, "proxy": summary.to_dict(), "runs": runs}
    record["seconds"] = round(total, 1)
    (args.work / "results.json").write_text(
        json.dumps(record, indent=2, default=float) + "\n", encoding="utf-8"
    )
    (args.work / "results.md").write_text(markdown + "\n", encoding="utf-8")
    print(f"\nplot: {png}\nresults: {args.work / 'results.json'}\ntotal {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
