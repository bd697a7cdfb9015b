"""What benchmarks/accuracy.py and benchmarks/views.py share: running a (name, seed) grid of proxy
runs in worker processes, and the mean ± std over seeds their tables report."""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def grid_parser(doc: str, work: str, steps: int) -> argparse.ArgumentParser:
    """The options every proxy grid benchmark has (work folder, seeds, steps, family, proxy build,
    jobs, --quick); the script adds what it compares."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(work), help="work folder (proxy, runs)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    parser.add_argument("--steps", type=int, default=steps, help=f"training steps per run (default {steps})")
    parser.add_argument("--family", default="tconv", help="family trained on (default tconv)")
    parser.add_argument("--proxy-seed", type=int, default=0, help="seed of the proxy build (default 0)")
    parser.add_argument(
        "--shortcut-cue",
        type=float,
        default=3.0,
        help="amplitude (8-bit levels) of the cue on the train fakes; 0: no shortcut split (default 3)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="runs at once, each a single-threaded process (default 1)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check that the script runs")
    return parser


def run_grid(
    run_one: Callable[..., dict], names: list[str], seeds: list[int], jobs: int, *extra: Any
) -> dict[str, list[dict]]:
    """`run_one(name, seed, *extra)` for every pair, `jobs` at a time in worker processes (each run is
    single-threaded); returns name -> the runs' results in seed order."""
    pairs = [(name, seed) for name in names for seed in seeds]
    if jobs <= 1:
        done = {pair: run_one(*pair, *extra) for pair in pairs}
    else:
        context = multiprocessing.get_context("spawn")  # no torch state forked into the workers
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
            futures = {pair: pool.submit(run_one, *pair, *extra) for pair in pairs}
            done = {pair: future.result() for pair, future in futures.items()}
    return {name: [done[(name, seed)] for seed in seeds] for name in names}


def stats(values: list[float]) -> tuple[float, float]:
    """Mean and sample std of the values that are numbers (std 0 for one value, NaN for none)."""
    array = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if array.size == 0:
        return math.nan, math.nan
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def plus_minus(values: list[float]) -> str:
    """`mean ± std` in percent."""
    mean, std = stats(values)
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def unseen_mean(result: dict, train_generator: str, key: str) -> float:
    """Mean of `key` over the families not trained on."""
    values = [row[key] for name, row in result["generators"].items() if name != train_generator]
    return float(np.mean(values))


def per_family_table(runs: dict[str, list[dict]], train_generator: str, key: str = "acc") -> str:
    """Markdown: `key` per test family (rows) and run name (columns), mean ± std over seeds (in %)."""
    names = list(next(iter(runs.values()))[0]["generators"])
    lines = ["| test family | " + " | ".join(runs) + " |", "|---|" + "---:|" * len(runs)]
    for gen in names:
        label = f"{gen} (train)" if gen == train_generator else gen
        cells = [plus_minus([r["generators"][gen][key] for r in results]) for results in runs.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
