"""The main job: the whole product end to end on an offline proxy benchmark, in one command.

    pinclip quickstart [--out quickstart_out] [--smoke]      (README command 1: scripts/quickstart.sh)

Stages: build the proxy benchmark -> train a small PiN-CLIP on one generator family -> export a
bundle (onnxruntime and OpenVINO, FP32 and INT8, gated) -> calibrate the threshold on held-out reals
-> run `pinclip_sdk.Detector` on the held-out test split of every family -> report. It prints a
per-generator table, INT8 decision agreement with FP32, and latency per stage, and leaves the bundle,
`report.json` and `report.md` under `--out`. The model is a tiny random-init ViT trained on proxy
data: it shows the pipeline working, it is not a real-world detector.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pinclip_sdk.errors import ConfigError, PinclipError
from pinclip_sdk.training.proxy.protocol import RunSpec
from pinclip_sdk.training.proxy.proxy_config import FAMILIES, ProxyConfig

REAL_WORLD_COMMAND = (
    "pinclip train --preset paper --data /data/GenImage/stable_diffusion_v_1_4 "
    "--set model.backbone=ViT-L-14 --set model.pretrained=openai --out runs/genimage-sdv14\n"
    "  pinclip eval runs/genimage-sdv14/last /data/GenImage --split val --calib /data/heldout_reals "
    "--target-fpr 0.01\n"
    "  pinclip export runs/genimage-sdv14/last -o genimage.pinclip --int8 --calib /data/calib"
)
NOT_A_DETECTOR = (
    "NOTE: this small model (a random-init tiny ViT) was trained on PROXY data (photo crops vs the outputs "
    "of small generators trained here). It demonstrates the pipeline; it is NOT a real-world detector "
    "of AI-generated images."
)


@dataclass(frozen=True)
class QuickstartPlan:
    """Sizes of one quickstart run (full, or the reduced smoke run used by CI)."""

    proxy: ProxyConfig
    run: RunSpec
    int8_calib_size: int  # INT8 calibration images of the export
    gate_size: int
    target_fpr: float
    # INT8 gate of the export. The smoke run's 40-step model sits near chance: which of its 64 gate
    # decisions flip under INT8, and so its AUC drop, depends on the CPU's INT8 rounding (0.78 points
    # for OpenVINO on one AMD EPYC), so it is gated loosely; the full run keeps the export defaults.
    int8_min_agreement: float = 0.99
    max_auc_drop: float = 0.005


def make_plan(smoke: bool, seed: int, family: str, steps: int | None) -> QuickstartPlan:
    if smoke:
        proxy = ProxyConfig(
            seed=seed, size=32, train_per_class=64, val_per_class=24, generator_steps=60, patch=16, threads=1
        )
        run = RunSpec(family=family, seed=seed, steps=steps or 40, batch_size=16, image_size=32)
        return QuickstartPlan(
            proxy,
            run,
            int8_calib_size=32,
            gate_size=64,
            target_fpr=0.1,
            int8_min_agreement=0.9,
            max_auc_drop=0.05,
        )
    proxy = ProxyConfig(seed=seed)
    run = RunSpec(family=family, seed=seed, steps=steps or 2400, batch_size=32, image_size=proxy.size)
    return QuickstartPlan(proxy, run, int8_calib_size=256, gate_size=512, target_fpr=0.05)


class Stages:
    """Prints a banner per stage with the elapsed time, and keeps the durations for the report."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        index = len(self.seconds) + 1
        elapsed = time.perf_counter() - self.started
        print(f"\n=== [{index}/{self.total}] {name}  (t = {elapsed:.0f} s) ===", flush=True)
        begin = time.perf_counter()
        try:
            yield
        except PinclipError as exc:
            print(f"=== stage {name!r} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            raise
        self.seconds[name] = round(time.perf_counter() - begin, 2)
        print(f"--- {name}: done in {self.seconds[name]:.1f} s", flush=True)


def _say(message: str) -> None:
    print(f"    {message}", flush=True)


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `pinclip quickstart`."""
    parser.add_argument(
        "--out", type=Path, default=Path("quickstart_out"), help="output folder (quickstart_out)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="reduced sizes: the same pipeline in ~15 s (what CI runs)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the proxy build and the training run")
    parser.add_argument(
        "--family", default="tconv", choices=list(FAMILIES), help="generator family to train on (tconv)"
    )
    parser.add_argument("--steps", type=_positive, default=None, help="training steps (2400; smoke 40)")
    parser.add_argument("--force", action="store_true", help="rebuild the proxy benchmark even if cached")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the main job; returns the process exit code (1 when a stage fails or INT8 misses 99%).

    The smoke run reports the agreement but is not gated on it: its 40-step model sits near chance,
    so its p_fake values crowd the threshold and which of them flip under INT8 depends on the CPU's
    INT8 rounding (98.75% on one AMD EPYC, 100% on Xeons). The full run keeps the gate.
    """
    try:
        report = run_quickstart(args)
    except PinclipError as exc:
        print(f"quickstart: error: {exc}", file=sys.stderr)
        return 1
    return 0 if args.smoke or report["int8_agreement_ok"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pinclip_sdk.training.quickstart`: the same as `pinclip quickstart`."""
    parser = argparse.ArgumentParser(prog="pinclip quickstart", description=__doc__.split("\n\n")[0])
    configure(parser)
    return run(parser.parse_args(argv))


def run_quickstart(args: argparse.Namespace) -> dict[str, Any]:
    """The stages, in order; returns the report (also written to `args.out`)."""
    from pinclip_sdk.training.proxy.stages import (
        calibrate_threshold_stage,
        detect_stage,
        export_stage,
        proxy_stage,
        train_stage,
        write_reports,
    )

    out = args.out.expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the output folder ({exc.strerror})") from None
    plan = make_plan(args.smoke, args.seed, args.family, args.steps)
    print(f"PiN-CLIP quickstart -> {out}  ({'smoke' if args.smoke else 'full'} run)")
    print(NOT_A_DETECTOR)
    stages = Stages(total=5)
    with stages.stage("build the proxy benchmark"):
        proxy = proxy_stage(out / "proxy", plan, force=args.force, say=_say)
    with stages.stage(f"train a small PiN-CLIP on family {plan.run.family!r}"):
        outcome = train_stage(out, plan, say=_say)
    with stages.stage("export: onnxruntime + OpenVINO, FP32 + INT8 (gated)"):
        bundle = export_stage(out, outcome, plan, say=_say)
    with stages.stage("calibrate the threshold on held-out reals"):
        threshold = calibrate_threshold_stage(out, bundle, outcome, plan, say=_say)
    with stages.stage("Detector on the held-out test split of every family"):
        detection = detect_stage(bundle, out / "proxy", plan, say=_say)
    report = {
        "note": NOT_A_DETECTOR,
        "mode": "smoke" if args.smoke else "full",
        "output": str(out),
        "bundle": str(bundle),
        "proxy": proxy,
        "run": {**asdict(plan.run), "train_samples": outcome.train_samples, "final_loss": outcome.final_loss},
        "threshold": threshold,
        **detection,
        "stage_seconds": stages.seconds,
        "total_seconds": round(time.perf_counter() - stages.started, 1),
        "real_world_command": REAL_WORLD_COMMAND,
    }
    markdown = write_reports(out, report)
    print("\n" + markdown)  # the report already holds the note and the real-world commands: said once
    print(f"\nbundle: {bundle}\nreport: {out / 'report.json'}, {out / 'report.md'}")
    print(
        json.dumps(
            {"total_seconds": report["total_seconds"], "int8_agreement_ok": report["int8_agreement_ok"]}
        )
    )
    return report


if __name__ == "__main__":
    sys.exit(main())
