"""Inference latency of the ViT-B/16 detector: PyTorch eager FP32 vs the exported CPU artifacts.

Builds the deployed graph of a PiN-CLIP detector on the ViT-B/16 architecture (open_clip
`ViT-B-16` visual tower + linear head, random weights: speed does not depend on the values), exports
it with the SDK's own export path (dynamo ONNX, onnxruntime static Q/DQ INT8, OpenVINO IR + NNCF
INT8) and times batch 1 and batch 8 of:

    pytorch-fp32 (eager, what research code runs), onnxruntime-fp32, onnxruntime-int8,
    openvino-fp32, openvino-int8

Every figure is also given as a speed-up over PyTorch eager measured in the same run, which stays
meaningful on a busy machine. Acceptance: the best CPU artifact >= 1.8x PyTorch eager at batch 1.

    python benchmarks/inference.py [--repeats 20] [--cache /tmp/vitb16] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCHES = (1, 8)
ACCEPTANCE = 1.8


def build_detector() -> Any:
    """ViT-B/16 visual tower + linear head as a `DetectorModule` (random init, no download)."""
    import open_clip
    import torch

    from pinclip_sdk.export.detector_module import DetectorModule
    from pinclip_sdk.spec import PreprocessSpec
    from pinclip_sdk.training.heads import LinearHead

    torch.manual_seed(0)
    clip = open_clip.create_model("ViT-B-16", pretrained=None)
    spec = PreprocessSpec.from_open_clip("ViT-B-16")
    detector = DetectorModule(
        clip.visual, LinearHead(clip.visual.output_dim), None, spec, {"name": "ViT-B-16"}
    )
    return detector.eval().requires_grad_(False)


def build_artifacts(detector: Any, root: Path, int8_calib_images: int) -> dict[str, Path]:
    """Export FP32 ONNX, onnxruntime INT8, OpenVINO FP32/INT8 into `root` (reused when present)."""
    from pinclip_sdk.export.int8_calibration import Int8CalibrationSource
    from pinclip_sdk.export.onnx_export import export_onnx
    from pinclip_sdk.export.openvino_export import convert_openvino, quantize_openvino
    from pinclip_sdk.export.ort_quant import ORT_CPU_INT8, quantize_qdq

    paths = {
        "onnxruntime-fp32": root / "detector.fp32.onnx",
        "onnxruntime-int8": root / "detector.int8.onnx",
        "openvino-fp32": root / "detector.fp32.xml",
        "openvino-int8": root / "detector.int8.xml",
    }
    height, width = detector.image_size
    rng = np.random.default_rng(0)
    items = [rng.standard_normal((3, height, width)).astype(np.float32) for _ in range(int8_calib_images)]
    with Int8CalibrationSource(items, batch_size=4) as source:
        steps = [
            ("onnxruntime-fp32", lambda: export_onnx(detector, paths["onnxruntime-fp32"], (height, width))),
            (
                "onnxruntime-int8",
                lambda: quantize_qdq(
                    paths["onnxruntime-fp32"], paths["onnxruntime-int8"], source, ORT_CPU_INT8
                ),
            ),
            ("openvino-fp32", lambda: convert_openvino(paths["onnxruntime-fp32"], paths["openvino-fp32"])),
            (
                "openvino-int8",
                lambda: quantize_openvino(paths["openvino-fp32"], paths["openvino-int8"], source),
            ),
        ]
        for name, build in steps:
            if paths[name].is_file():
                continue
            start = time.perf_counter()
            build()
            print(f"built {name} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return paths


def measure(detector: Any, paths: dict[str, Path], repeats: int, warmup: int = 3) -> dict[str, Any]:
    """Median latency per (artifact, batch), measured round-robin: every round times each artifact
    once, so load from other processes hits all of them alike and the ratios stay fair."""
    import torch

    from pinclip_sdk.backends.files import load_file
    from pinclip_sdk.export.artifacts import LOAD_OPTIONS

    height, width = detector.image_size
    rng = np.random.default_rng(0)
    inputs = {b: rng.standard_normal((b, 3, height, width)).astype(np.float32) for b in BATCHES}
    calls: dict[str, Any] = {}
    for batch in BATCHES:
        tensor = torch.from_numpy(inputs[batch])
        calls[f"pytorch-fp32/batch{batch}"] = lambda t=tensor: detector(t)
    runners = []
    for name, path in paths.items():  # each as a bundle ships it: the runtime backend, recorded options
        backend, precision = name.rsplit("-", 1)
        runner = load_file(path, backend, precision, options=LOAD_OPTIONS.get(name, {}), name=name)
        runners.append(runner)
        for batch in BATCHES:
            calls[f"{name}/batch{batch}"] = lambda b=batch, r=runner: r.infer(inputs[b])
    samples: dict[str, list[float]] = {key: [] for key in calls}
    try:
        with torch.inference_mode():
            for round_index in range(warmup + repeats):
                for key, call in calls.items():
                    start = time.perf_counter()
                    call()
                    if round_index >= warmup:
                        samples[key].append((time.perf_counter() - start) * 1e3)
    finally:
        for runner in runners:
            runner.close()
    results: dict[str, Any] = {}
    for key, values in samples.items():
        name, batch_key = key.split("/")
        results.setdefault(name, {})[batch_key] = {
            "median_ms": float(np.median(values)),
            "p90_ms": float(np.percentile(values, 90)),
        }
    return results


def add_ratios(results: dict[str, dict[str, dict[str, float]]]) -> None:
    for batch_key, baseline in results["pytorch-fp32"].items():
        for timings in results.values():
            timings[batch_key]["speedup_vs_pytorch"] = baseline["median_ms"] / timings[batch_key]["median_ms"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per figure (median reported)")
    parser.add_argument("--calib-images", type=int, default=16, help="INT8 calibration inputs (speed only)")
    parser.add_argument("--cache", type=Path, default=None, help="keep/reuse the exported artifacts here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("onnx_ir", "onnxscript", "nncf"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    import torch

    detector = build_detector()
    with tempfile.TemporaryDirectory(prefix="pinclip-bench-") as tmp:
        root = args.cache or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        paths = build_artifacts(detector, root, args.int8_calib_images)
        results = measure(detector, paths, args.repeats)
    add_ratios(results)
    best = max(
        (n for n in results if n != "pytorch-fp32"), key=lambda n: results[n]["batch1"]["speedup_vs_pytorch"]
    )
    summary = {
        "model": "ViT-B-16 visual + linear head (random init), 224x224",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
        },
        "results": results,
        "best_cpu_artifact_batch1": best,
        "best_speedup_batch1": results[best]["batch1"]["speedup_vs_pytorch"],
        "acceptance_batch1": ACCEPTANCE,
        "passed": results[best]["batch1"]["speedup_vs_pytorch"] >= ACCEPTANCE,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{'artifact':18s} {'b1 ms':>9s} {'x pytorch':>9s} {'b8 ms':>9s} {'x pytorch':>9s}")
        for name, timings in results.items():
            b1, b8 = timings["batch1"], timings["batch8"]
            print(
                f"{name:18s} {b1['median_ms']:9.1f} {b1['speedup_vs_pytorch']:9.2f} "
                f"{b8['median_ms']:9.1f} {b8['speedup_vs_pytorch']:9.2f}"
            )
        verdict = "PASS" if summary["passed"] else "FAIL"
        print(f"best at batch 1: {best} {summary['best_speedup_batch1']:.2f}x (>= {ACCEPTANCE}x: {verdict})")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
