"""Accuracy on the offline proxy benchmark: the train-on-one-family protocol and the PiN ablation.

    python benchmarks/accuracy.py [--work bench_accuracy] [--seeds 0,1,2] [--steps 2400] [--jobs 2]

Protocol (the shape of the paper's GenImage table): train on one generator family's `train` split,
choose the threshold on reals held out from that split for a target FPR (never on test labels),
test on the `val` split of every family; report per-family real / fake accuracy, accuracy and AP
and their means over families. Ablation grid: noise `none` vs `random` (sigma relative to the
features' std) vs `pin`, for the default layout (cosine head, noise on a block's tokens) and for the
linear head on the pooled embedding (where noise reduces to logit noise), plus the UnivFD-style
linear probe on the frozen backbone, each over several seeds (mean +- std). The proxy's train fakes
carry a faint fixed texture (`--shortcut-cue`, in 8-bit levels) that its val fakes lack, so each
run also reports the shortcut gap: fake accuracy on the val fakes with the cue minus without it.
The default variant (`pin`) is compared with `none` and `random` on unseen families against twice
the seed spread. Writes `results.json` (with each run's sigma trajectory), `results.md` and
`ablation.png` under `--work` (or `--plot`).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_grid import grid_parser, per_family_table, plus_minus, run_grid, stats, unseen_mean  # noqa: E402

# variant name -> RunSpec fields; the probe trains only the head on frozen random-init features
VARIANTS: dict[str, dict[str, str]] = {
    "none": {"noise": "none"},
    "random": {"noise": "random"},
    "pin": {"noise": "pin"},
    "none (linear pooled)": {"noise": "none", "head": "linear", "injection": "pooled"},
    "random (linear pooled)": {"noise": "random", "head": "linear", "injection": "pooled"},
    "pin (linear pooled)": {"noise": "pin", "head": "linear", "injection": "pooled"},
    "linear probe (frozen)": {"noise": "none", "finetune": "frozen", "head": "linear", "injection": "pooled"},
}
BASELINE = "none"
DEFAULT_VARIANT = "pin"  # the SDK's default configuration
TRAJECTORY_KEYS = ("sigma_rel", "mu_rel", "loss_gap")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = grid_parser(__doc__, "bench_accuracy", 2400)
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated subset of the variants"
    )
    parser.add_argument(
        "--plot", type=Path, default=None, help="where to write the PNG (default WORK/ablation.png)"
    )
    return parser.parse_args(argv)


def noise_trajectory(run_dir: Path) -> list[dict[str, float]]:
    """The logged sigma / feature std, |mu| / |f| and noisy - clean loss of a run, step by step."""
    path = run_dir / "metrics.jsonl"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        entry = json.loads(line)
        if entry.get("event") == "train" and any(k in entry for k in TRAJECTORY_KEYS):
            rows.append({"step": entry["step"], **{k: entry[k] for k in TRAJECTORY_KEYS if k in entry}})
    return rows


def run_one(name: str, seed: int, args: argparse.Namespace, proxy: Path, size: int) -> dict:
    """Train and evaluate one variant for one seed; returns its metric dict (with spec and trajectory)."""
    fields = VARIANTS[name]
    # the probe has only a head to fit: a higher rate, as UnivFD's probe uses
    lr = 1e-2 if fields.get("finetune") == "frozen" else 1e-3
    batch = 16 if args.quick else 32
    spec = RunSpec(
        family=args.family, seed=seed, steps=args.steps, batch_size=batch, lr=lr, image_size=size, **fields
    )
    started = time.perf_counter()
    outcome = train_run(spec, proxy, args.work / "runs")
    result = evaluate_run(outcome, proxy)
    result["train_seconds"] = round(outcome.train_seconds, 1)
    result["final_loss"] = outcome.final_loss
    result["spec"] = asdict(spec)
    result["noise_trajectory"] = noise_trajectory(args.work / "runs" / spec.name / "run")
    gap = result.get("shortcut", {}).get("mean", {}).get("gap")
    unseen = unseen_mean(result, generator_name(args.family), "acc")
    print(
        f"  {name:<24} seed {seed}: unseen acc {100 * unseen:.1f}"
        f"  mean AP {100 * result['mean']['ap']:.1f}"
        + (f"  shortcut gap {100 * gap:+.1f}" if gap is not None else "")
        + f"  ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return result


def _final(result: dict, key: str) -> float:
    trajectory = result.get("noise_trajectory") or []
    return trajectory[-1].get(key, math.nan) if trajectory else math.nan


def ablation_table(runs: dict[str, list[dict]], train_generator: str) -> str:
    """Markdown: one row per variant, mean ± std over seeds, and the difference to `none`."""
    lines = [
        "| variant | unseen-family acc | unseen-family AP | train-family AP | train-family fake recall | "
        f"mean acc | shortcut gap | final σ / feature std | Δ unseen acc vs {BASELINE} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = stats([unseen_mean(r, train_generator, "acc") for r in runs.get(BASELINE, [])])[0]
    for name, results in runs.items():
        unseen = [unseen_mean(r, train_generator, "acc") for r in results]
        delta = (stats(unseen)[0] - base) * 100 if not math.isnan(base) else math.nan
        gaps = [r.get("shortcut", {}).get("mean", {}).get("gap", math.nan) for r in results]
        sigma_mean, sigma_std = stats([_final(r, "sigma_rel") for r in results])
        sigma = "–" if math.isnan(sigma_mean) else f"{sigma_mean:.3f} ± {sigma_std:.3f}"
        lines.append(
            f"| {name} | {plus_minus(unseen)} | "
            f"{plus_minus([unseen_mean(r, train_generator, 'ap') for r in results])} | "
            f"{plus_minus([r['generators'][train_generator]['ap'] for r in results])} | "
            f"{plus_minus([r['generators'][train_generator]['fake_acc'] for r in results])} | "
            f"{plus_minus([r['mean']['acc'] for r in results])} | {plus_minus(gaps)} | {sigma} | "
            f"{delta:+.1f} |"
        )
    return "\n".join(lines)


def verdict(runs: dict[str, list[dict]], train_generator: str) -> str:
    """Does the default beat `none` and `random` on unseen families by more than 2 std of the seeds?"""
    if DEFAULT_VARIANT not in runs:
        return f"(`{DEFAULT_VARIANT}` not run: no verdict)"
    lines = []
    mean, std = stats([unseen_mean(r, train_generator, "acc") for r in runs[DEFAULT_VARIANT]])
    for other in ("none", "random"):
        if other not in runs:
            continue
        other_mean, other_std = stats([unseen_mean(r, train_generator, "acc") for r in runs[other]])
        margin = 2 * max(std, other_std)
        beats = mean - other_mean > margin
        lines.append(
            f"- `{DEFAULT_VARIANT}` vs `{other}` on unseen families: "
            f"{100 * (mean - other_mean):+.1f} points, "
            f"2 std of the seed spread = {100 * margin:.1f}: "
            + ("**beats it**" if beats else "**does not beat it**")
        )
    return "\n".join(lines)


def plot(runs: dict[str, list[dict]], train_generator: str, path: Path) -> Path:
    """Left: accuracy per test family for each variant (error bars = std over seeds); right: sigma."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(runs.values()))[0]["generators"]) + ["mean"]
    width = 0.8 / len(runs)
    fig, (ax, ax_sigma) = plt.subplots(1, 2, figsize=(12, 3.8), dpi=90, width_ratios=(2.2, 1))
    for index, (variant, results) in enumerate(runs.items()):
        spread = [stats([r["generators"][g]["acc"] for r in results]) for g in names[:-1]]
        spread.append(stats([r["mean"]["acc"] for r in results]))
        xs = np.arange(len(names)) + (index - (len(runs) - 1) / 2) * width
        bars = ax.bar(
            xs,
            [100 * m for m, _ in spread],
            width,
            yerr=[100 * s for _, s in spread],
            label=variant,
            capsize=2,
        )
        for r_index, result in enumerate(results):
            trajectory = [row for row in result.get("noise_trajectory", []) if "sigma_rel" in row]
            if trajectory:
                ax_sigma.plot(
                    [row["step"] for row in trajectory],
                    [row["sigma_rel"] for row in trajectory],
                    color=bars.patches[0].get_facecolor(),
                    linewidth=0.8,
                    label=variant if r_index == 0 else None,
                )
    labels = [n.removeprefix("proxy_") + ("\n(train)" if n == train_generator else "") for n in names]
    ax.set_xticks(np.arange(len(names)), labels)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.axhline(50, color="grey", linewidth=0.6, linestyle="--")
    ax.set_title("Proxy benchmark: train on one family, test on all (mean ± std over seeds)", fontsize=9)
    ax.legend(fontsize=6, ncol=2, loc="lower center")
    ax_sigma.set_xlabel("step")
    ax_sigma.set_ylabel("σ / feature std")
    ax_sigma.set_title("Noise scale during training (every seed)", fontsize=9)
    if ax_sigma.lines:
        ax_sigma.legend(fontsize=6)
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
    proxy_cfg = ProxyConfig(seed=args.proxy_seed, shortcut_cue=args.shortcut_cue)
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
    runs = run_grid(run_one, variants, seeds, args.jobs, args, args.work / "proxy", proxy_cfg.size)
    first = runs[variants[0]][0]
    sections = [
        f"Trained on `{train_generator}`, {args.steps} steps, seeds {seeds}, proxy seed {args.proxy_seed}, "
        f"shortcut cue {args.shortcut_cue:g} levels on the train fakes; "
        f"threshold for a {first['calibration']['target_fpr']:.0%} FPR on "
        f"{first['calibration']['n_reals']} held-out train reals.",
        f"\n### Protocol table: `{variants[0]}`, seed {seeds[0]}\n",
        metrics_table(first, train_generator),
        "\n### Ablation (mean ± std over seeds, in %)\n",
        ablation_table(runs, train_generator),
        "\n" + verdict(runs, train_generator),
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
