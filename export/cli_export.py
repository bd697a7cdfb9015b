"""Export a training checkpoint to a gated model bundle (*.pinclip) or a Triton model repository.

Builds the FP32 ONNX (checked against PyTorch), the requested targets (onnxruntime FP32/FP16/INT8,
OpenVINO FP32/INT8, TensorRT-ready FP16 and INT8 Q/DQ ONNX), runs every artifact through the parity
and accuracy gate, and writes manifest.json, report.json and report.md. An artifact that misses its
gate fails the export (exit 1) and names the artifact and its numbers; no manifest is written then.

Examples:
    pinclip export runs/ckpt -o model.pinclip --targets onnxruntime,openvino --int8 --calib data/val
    pinclip export runs/ckpt -o model.pinclip --targets tensorrt --int8 --calib data/val --gate-data data/test
    pinclip export runs/ckpt -o triton_repo --format triton --targets onnxruntime,openvino,tensorrt
    pinclip export --format triton model.pinclip -o triton_repo      (a repository from an existing bundle)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        type=Path,
        help="training checkpoint directory (config.json + weights); with --format triton, or a bundle",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="bundle (*.pinclip) or Triton repo dir"
    )
    parser.add_argument(
        "--targets", default="onnxruntime,openvino", help="comma list: onnxruntime, openvino, tensorrt"
    )
    parser.add_argument("--int8", action="store_true", help="also build INT8 artifacts (needs --calib)")
    parser.add_argument("--no-fp16", action="store_true", help="skip the onnxruntime FP16 (GPU EP) model")
    parser.add_argument(
        "--calib", type=Path, default=None, help="INT8 calibration images (real + fake, any layout)"
    )
    parser.add_argument(
        "--calib-size", type=int, default=512, help="INT8 calibration images, balanced (default 512)"
    )
    parser.add_argument(
        "--calib-method",
        default="minmax",
        choices=("minmax", "entropy", "percentile"),
        help="INT8 calibration method",
    )
    parser.add_argument("--gate-data", type=Path, default=None, help="labelled held-out images for the gate")
    parser.add_argument("--gate-size", type=int, default=512, help="at most this many gate images")
    parser.add_argument("--min-agreement-fp16", type=float, default=0.999, help="FP16/FP32 gate (fraction)")
    parser.add_argument("--min-agreement-int8", type=float, default=0.99, help="INT8 gate (fraction)")
    parser.add_argument(
        "--max-auc-drop", type=float, default=0.5, help="max AUC drop, in points (default 0.5)"
    )
    parser.add_argument("--openvino-accuracy-control", action="store_true", help="NNCF accuracy-aware INT8")
    parser.add_argument("--format", default="bundle", choices=("bundle", "triton"), help="output kind")
    parser.add_argument(
        "--bundle", type=Path, default=None, help="with --format triton: where the bundle goes"
    )
    parser.add_argument("--max-batch", type=int, default=8, help="with --format triton: max batch size")
    parser.add_argument(
        "--build-engines", action="store_true", help="also build TensorRT engines here (needs the target GPU)"
    )
    parser.add_argument("--model-id", default=None, help="model id written into the manifest")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


class _Progress:
    """Numbered steps on stderr (tqdm bar when stderr is a terminal)."""

    def __init__(self, total: int) -> None:
        self.start = time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, unit="step", bar_format="{l_bar}{bar}| {n}/{total}")

    def __call__(self, step: str) -> None:
        if self.bar is not None:
            self.bar.set_description(step)
            self.bar.update(1)
        else:
            print(f"[{time.perf_counter() - self.start:6.1f}s] {step}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _config(args: argparse.Namespace):  # -> ExportConfig
    from pinclip_sdk.export.export_config import ExportConfig
    from pinclip_sdk.export.gate import GateConfig

    gate = GateConfig(
        fp32_min_agreement=args.min_agreement_fp16,
        fp16_min_agreement=args.min_agreement_fp16,
        int8_min_agreement=args.min_agreement_int8,
        max_auc_drop=args.max_auc_drop / 100.0,
    )
    return ExportConfig(
        targets=args.targets,
        int8=args.int8,
        fp16=not args.no_fp16,
        calib=args.calib,
        calib_size=args.calib_size,
        calib_method=args.calib_method,
        gate_data=args.gate_data,
        gate_size=args.gate_size,
        gate=gate,
        openvino_accuracy_control=args.openvino_accuracy_control,
        model_id=args.model_id,
        overwrite=args.overwrite,
    )


def _triton_from_bundle(args: argparse.Namespace) -> int:
    """`--format triton` on an exported bundle: the repository from its artifacts, no re-export."""
    from pinclip_sdk.bundle import Bundle
    from pinclip_sdk.export.triton import write_triton_repository

    bundle = Bundle.load(args.checkpoint)
    asked = [t.strip() for t in args.targets.split(",") if t.strip()]
    present = {a.backend for a in bundle.artifacts}
    targets = tuple(t for t in asked if t in present)
    if not targets:
        print(
            f"pinclip export: error: {args.checkpoint} has no artifact for --targets {args.targets} "
            f"(it has: {', '.join(sorted(present))})",
            file=sys.stderr,
        )
        return 1
    repository = write_triton_repository(
        bundle.root, args.output, targets, max_batch=args.max_batch, overwrite=args.overwrite
    )
    print(f"triton model repository: {repository} ({', '.join(targets)})")
    print(f"next: tritonserver --model-repository {repository}")
    return 0


def run(args: argparse.Namespace) -> int:
    from pinclip_sdk.export.bundle_export import export_bundle

    if args.format == "triton" and (args.checkpoint / "manifest.json").is_file():
        return _triton_from_bundle(args)
    config = _config(args)
    bundle_path = args.output
    if args.format == "triton":
        bundle_path = args.bundle or args.output.with_name(args.output.name + ".pinclip")
    progress = _Progress(total=len(config.artifact_names()) + 4)
    try:
        bundle = export_bundle(args.checkpoint, bundle_path, config, progress)
    finally:
        progress.close()
    print(f"bundle: {bundle.root} ({len(bundle.artifacts)} artifacts, all passed the gate)")
    for artifact in bundle.artifacts:
        print(f"  {artifact.name:18s} {artifact.files[0].path}")
    print(f"report: {bundle.root / 'report.md'}")
    if args.build_engines and "tensorrt" in config.targets:
        from pinclip_sdk.export.engine_prebuild import build_engines

        precisions = ("fp16", "int8") if config.int8 else ("fp16",)
        for result in build_engines(bundle.root, precisions, max_batch=args.max_batch):
            print(f"  tensorrt engine: {result}")
    if args.format == "triton":
        from pinclip_sdk.export.triton import write_triton_repository

        repository = write_triton_repository(
            bundle.root, args.output, config.targets, max_batch=args.max_batch, overwrite=args.overwrite
        )
        print(f"triton model repository: {repository}")
        print(f"next: tritonserver --model-repository {repository}")
        return 0
    data = args.gate_data or args.calib or "DATA"
    print("next: set the threshold on held-out reals, then check the artifacts on your data:")
    print(f"  pinclip calibrate {bundle.root} --reals REALS_DIR --target-fpr 0.01")
    print(f"  pinclip compare {bundle.root} {data} --backends {','.join(config.targets)}")
    print(f"  pinclip detect IMAGES --model {bundle.root}")
    return 0
