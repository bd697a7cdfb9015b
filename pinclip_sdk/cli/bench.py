"""Benchmark a bundle on this machine: latency percentiles, throughput, stages, memory.

For each backend, precision and batch size: warm-up, then p50/p90/p99 latency and throughput
of backend inference, the per-image cost of decode / preprocess / inference, and peak RSS, with a
description of the machine (CPU, GPU, Jetson / JetPack, library versions) so reports compare.
With --images DIR it also runs the full `predict_paths` pipeline on those files and prints its
throughput as a ratio of pure inference throughput at the same batch size.

Examples:
    pinclip bench --model model.pinclip --backend all --batch 1,8
    pinclip bench --model model.pinclip --images photos/ --json > bench.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pinclip_sdk.backends.base import BACKENDS


def _csv(kind: type) -> Any:
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__}s, got {text!r}"
            ) from None

    return parse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", required=True, help="model bundle (*.pinclip folder)")
    parser.add_argument(
        "--backend", default="auto", help=f"auto, all, or a comma list of: {', '.join(BACKENDS)}"
    )
    parser.add_argument("--batch", type=_csv(int), default=(1, 8), help="batch sizes, e.g. 1,8")
    parser.add_argument("--precision", type=_csv(str), default=("auto",), help="auto or a list: fp32,int8")
    parser.add_argument("--images", type=Path, default=None, help="folder of images (JPEG) for end-to-end")
    parser.add_argument("--max-images", type=int, default=256, help="images used from --images")
    parser.add_argument("--threads", type=int, default=None, help="inference threads")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--iterations", type=int, default=10, help="minimum timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--rounds", type=int, default=3, help="--images: timing alternations")
    parser.add_argument(
        "--openvino-hint", default="LATENCY", choices=("LATENCY", "THROUGHPUT"), help="OpenVINO hint"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from pinclip_sdk.benchmark import BenchConfig, run_benchmark

    backends = tuple(b.strip() for b in args.backend.split(",") if b.strip())
    for name in backends:
        if name not in ("auto", "all", *BACKENDS):
            print(f"pinclip bench: error: unknown backend {name!r}", file=sys.stderr)
            return 2
    cfg = BenchConfig(
        backends=backends,
        precisions=args.precision,
        batches=args.batch,
        images=args.images,
        warmup=args.warmup,
        iterations=args.iterations,
        seconds=args.seconds,
        max_images=args.max_images,
        threads=args.threads,
        openvino_hint=args.openvino_hint,
        rounds=args.rounds,
    )
    report = run_benchmark(args.model, cfg)
    if args.json:
        print(json.dumps(report, sort_keys=True, default=str))
    else:
        print_report(report)
    return 0


def print_report(report: dict[str, Any]) -> None:
    machine = report["machine"]
    cpu = machine.get("cpu") or {}
    gpus = ", ".join(g.get("name", "?") for g in machine.get("gpus") or []) or "none"
    jetson = machine.get("jetson")
    print(f"model   {report['model']['model_id']}  ({report['model']['bundle']})")
    print(f"machine {cpu.get('model')} ({cpu.get('usable_cores')} cores), GPU: {gpus}")
    if jetson:
        print(f"jetson  {jetson}")
    libraries = machine.get("libraries") or {}
    print("libs    " + ", ".join(f"{k} {v}" for k, v in libraries.items() if v))
    header = f"{'backend':<12}{'prec':<6}{'batch':>5} {'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'img/s':>9}"
    header += f"  {'decode':>7}{'prep':>7}{'infer':>7} ms/img {'RSS MB':>7}  end-to-end"
    print(header)
    for r in report["results"]:
        lat, st = r["latency_ms"], r["stages_ms"]
        line = f"{r['backend']:<12}{r['precision']:<6}{r['batch']:>5} "
        line += f"{lat['p50']:>9.2f}{lat['p90']:>9.2f}{lat['p99']:>9.2f}{r['throughput_ips']:>9.1f}"
        line += f"  {st['decode']:>7.2f}{st['preprocess']:>7.2f}{st['inference']:>7.2f}"
        line += f"        {r['peak_rss_mb']:>7.0f}"
        e2e = r.get("end_to_end")
        if e2e:
            ratio = 100 * e2e["ratio_to_inference"]
            line += f"  {e2e['throughput_ips']:.1f} img/s = {ratio:.0f}% of inference"
        print(line)
    print(f"peak RSS {report['peak_rss_mb']:.0f} MB")
