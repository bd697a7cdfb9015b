"""The quickstart's stages, each a call into the SDK's Python API (no subprocesses).

`pinclip_sdk.training.quickstart` runs them in order and prints the banners; each stage takes what
the previous one produced and a `say` callback for progress lines, and raises a `PinclipError`
naming what failed.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pinclip_sdk.errors import ExportError, PinclipError
from pinclip_sdk.training.proxy import protocol

Say = Callable[[str], None]
ARTIFACTS = (("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "int8"))
REFERENCE = ("onnxruntime", "fp32")
MIN_INT8_AGREEMENT = 0.99
TIMING_KEYS = ("decode", "preprocess", "inference")


def proxy_stage(root: Path, plan: Any, *, force: bool, say: Say) -> dict[str, Any]:
    """Build (or reuse) the proxy benchmark; returns its summary as a dict."""
    from pinclip_sdk.training.proxy import build_proxy

    summary = build_proxy(root, plan.proxy, force=force)
    state = "reused (same parameters)" if summary.cached else f"built in {summary.seconds:.1f} s"
    say(f"{root}: {state}; families {', '.join(summary.counts)}; {len(summary.sources)} source photos")
    for line in summary.sharpness_table().splitlines():
        say(line)
    return summary.to_dict()


def train_stage(out: Path, plan: Any, *, say: Say) -> protocol.RunOutcome:
    """Train the small PiN-CLIP on one family (held-out reals kept aside for the threshold)."""
    say(
        f"tiny random-init ViT ({plan.run.image_size} px), noise {plan.run.noise}, fine-tune "
        f"{plan.run.finetune}, {plan.run.steps} steps of {plan.run.batch_size}, seed {plan.run.seed}"
    )
    outcome = protocol.train_run(plan.run, out / "proxy", out / "runs", progress=True)
    say(
        f"trained on {outcome.train_samples} images in {outcome.train_seconds:.1f} s, final loss "
        f"{outcome.final_loss:.4f}; checkpoint {outcome.checkpoint}"
    )
    say(f"{len(outcome.threshold_reals)} train reals held out for threshold calibration")
    return outcome


def export_stage(out: Path, outcome: protocol.RunOutcome, plan: Any, *, say: Say) -> Path:
    """Export the checkpoint to a gated bundle with FP32 and INT8 artifacts for both CPU runtimes."""
    from pinclip_sdk.export import bundle_export
    from pinclip_sdk.export.export_config import ExportConfig
    from pinclip_sdk.export.gate import GateConfig

    config = ExportConfig(
        targets=("onnxruntime", "openvino"),
        int8=True,
        fp16=False,
        calib=outcome.train_image_list,  # INT8 calibration on train images only, never test
        calib_size=plan.int8_calib_size,
        gate_size=plan.gate_size,  # train images not used for INT8 calibration
        gate=GateConfig(int8_min_agreement=plan.int8_min_agreement, max_auc_drop=plan.max_auc_drop),
        model_id=f"quickstart-proxy-{outcome.spec.family}-s{outcome.spec.seed}",
        overwrite=True,
        seed=outcome.spec.seed,
    )
    bundle_path = out / "model.pinclip"
    bundle = bundle_export.export_bundle(
        outcome.checkpoint, bundle_path, config, progress=lambda m: say(f"export: {m}")
    )
    for artifact in bundle.artifacts:
        say(f"artifact {artifact.name}: {artifact.backend} {artifact.precision}")
    return bundle_path


def calibrate_threshold_stage(
    out: Path, bundle: Path, outcome: protocol.RunOutcome, plan: Any, *, say: Say
) -> dict:
    """Choose the bundle's threshold on the held-out train reals for the plan's target FPR."""
    from pinclip_sdk.export.threshold import calibrate_threshold

    reals = protocol.write_image_list(outcome.threshold_reals, out / "threshold_reals.csv")
    calibrated = calibrate_threshold(bundle, reals, target_fpr=plan.target_fpr)
    threshold = calibrated.manifest.threshold
    evidence = dict(threshold.evidence)
    achieved = evidence.get("achieved_fpr", float("nan"))
    say(
        f"threshold p_fake >= {threshold.value:.4f} for a target FPR of {plan.target_fpr:.0%} on "
        f"{evidence.get('n_reals')} held-out reals (achieved {achieved:.1%})"
    )
    return {"p_fake": threshold.value, "method": threshold.method, "evidence": evidence}


def _run_detector(bundle: Path, backend: str, precision: str, paths: list[str]) -> dict[str, Any]:
    from pinclip_sdk import Detector

    with Detector(bundle, backend=backend, precision=precision) as detector:
        info = detector.info()
        if (info["backend"], info["precision"]) != (backend, precision):
            raise ExportError(
                f"asked for {backend} {precision}, the Detector chose {info['backend']} {info['precision']}"
            )
        predictions = detector.predict_batch(paths, batch_size=16)
    failed = [p for p in predictions if not p.ok]
    if failed:
        raise PinclipError(f"{len(failed)} test images failed in {backend} {precision}: {failed[0].error}")
    timings = {
        key: statistics.median(p.timings[key] for p in predictions if key in p.timings) for key in TIMING_KEYS
    }
    return {
        "p_fake": np.array([p.p_fake for p in predictions]),
        "labels": [p.label for p in predictions],
        "threshold": predictions[0].threshold,
        "median_ms": timings,
    }


def detect_stage(bundle: Path, proxy_root: Path, plan: Any, *, say: Say) -> dict[str, Any]:
    """Score every family's val split with `Detector` on each artifact; table, INT8 agreement, latency."""
    from pinclip_sdk.training import data, metrics

    test = data.discover(proxy_root, split="val")
    paths = [str(s.path) for s in test]
    labels = [s.label for s in test]
    generators = [s.generator for s in test]
    say(
        f"{len(test)} test images from {len(set(generators))} families "
        "(val split; the trained family included)"
    )
    runs = {}
    for backend, precision in ARTIFACTS:
        runs[f"{backend}-{precision}"] = run = _run_detector(bundle, backend, precision, paths)
        say(
            f"{backend} {precision}: median ms/image "
            + ", ".join(f"{k} {v:.2f}" for k, v in run["median_ms"].items())
        )
    threshold = runs["onnxruntime-fp32"]["threshold"]
    per_artifact = {
        name: metrics.detection_metrics(labels, run["p_fake"], generators, threshold)
        for name, run in runs.items()
    }
    agreement = {}
    for backend in ("onnxruntime", "openvino"):
        fp32, int8 = runs[f"{backend}-fp32"]["labels"], runs[f"{backend}-int8"]["labels"]
        agreement[backend] = sum(a == b for a, b in zip(fp32, int8, strict=True)) / len(fp32)
        say(f"INT8 vs FP32 decision agreement ({backend}): {agreement[backend]:.2%} of {len(fp32)} images")
    max_dp = {
        backend: float(np.max(np.abs(runs[f"{backend}-int8"]["p_fake"] - runs[f"{backend}-fp32"]["p_fake"])))
        for backend in ("onnxruntime", "openvino")
    }
    return {
        "train_generator": protocol.generator_name(plan.run.family),
        "threshold_p_fake": threshold,
        "metrics": per_artifact,
        "int8_agreement": agreement,
        "int8_max_abs_p_fake_delta": max_dp,
        "int8_agreement_ok": all(v >= MIN_INT8_AGREEMENT for v in agreement.values()),
        "latency_median_ms": {name: run["median_ms"] for name, run in runs.items()},
        "n_test": len(test),
    }


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def render_markdown(report: dict[str, Any]) -> str:
    """The human-readable report: per-generator table, INT8 agreement, latency, stage times."""
    train = report["train_generator"]
    evidence = report["threshold"]["evidence"]
    lines = [
        "# PiN-CLIP quickstart report",
        "",
        f"> {report['note']}",
        "",
        f"Trained on `{train}` ({report['run']['steps']} steps, seed {report['run']['seed']}); threshold "
        f"p_fake >= {report['threshold_p_fake']:.4f}, chosen on {evidence.get('n_reals')} "
        f"held-out train reals for a {evidence.get('target_fpr')} target FPR.",
        "",
        "## Per-generator accuracy (onnxruntime INT8 via `Detector`, val split of each family)",
        "",
        protocol.metrics_table(report["metrics"]["onnxruntime-int8"], train),
        "",
        "Same with the FP32 reference:",
        "",
        protocol.metrics_table(report["metrics"]["onnxruntime-fp32"], train),
        "",
        "## INT8 decision agreement with FP32",
        "",
        "| runtime | agreement | max abs p_fake delta |",
        "|---|---:|---:|",
    ]
    for backend, value in report["int8_agreement"].items():
        lines.append(f"| {backend} | {value:.2%} | {report['int8_max_abs_p_fake_delta'][backend]:.4f} |")
    lines += ["", "## Latency per stage (median ms per image, `Detector.predict_batch`)", ""]
    lines += ["| artifact | decode | preprocess | inference |", "|---|---:|---:|---:|"]
    for name, values in report["latency_median_ms"].items():
        lines.append(f"| {name} | " + " | ".join(_fmt(values[k]) for k in TIMING_KEYS) + " |")
    lines += ["", "## Quickstart stages (wall seconds)", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in report["stage_seconds"].items()]
    lines += [f"| **total** | {report['total_seconds']:.1f} |", ""]
    lines += ["## Train a real detector", "", "```", report["real_world_command"], "```", ""]
    return "\n".join(lines)


def write_reports(out: Path, report: dict[str, Any]) -> str:
    """Write `report.json` and `report.md` under `out`; returns the Markdown."""
    (out / "report.json").write_text(
        json.dumps(report, indent=2, default=_json_default) + "\n", encoding="utf-8"
    )
    markdown = render_markdown(report)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    return markdown


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
