"""Check a bundle's artifacts against its FP32 reference on labelled images (the export gate, on demand).

Reports per artifact: decision agreement with FP32 at the bundle threshold, AUC and accuracy deltas,
max and mean logit error, latency. Exit 1 when an artifact misses its gate. Without DATA the check
uses random inputs (logit parity only).

Examples:
    pinclip compare model.pinclip data/test --backends onnxruntime,openvino
    pinclip compare model.pinclip data/test --backends openvino-int8 --json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="model bundle (*.pinclip)")
    parser.add_argument("data", type=Path, nargs="?", default=None, help="labelled images (any layout)")
    parser.add_argument(
        "--backends", default="", help="comma list of backends or artifact names (default: every artifact)"
    )
    parser.add_argument("--size", type=int, default=512, help="at most this many images (balanced)")
    parser.add_argument("--threshold", type=float, default=None, help="override the bundle threshold")
    parser.add_argument("--min-agreement-fp16", type=float, default=0.999, help="FP16/FP32 gate (fraction)")
    parser.add_argument("--min-agreement-int8", type=float, default=0.99, help="INT8 gate (fraction)")
    parser.add_argument("--max-auc-drop", type=float, default=0.5, help="max AUC drop in points")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from pinclip_sdk.export.compare import compare_bundle
    from pinclip_sdk.export.gate import GateConfig
    from pinclip_sdk.export.report import gate_table

    gate = GateConfig(
        fp32_min_agreement=args.min_agreement_fp16,
        fp16_min_agreement=args.min_agreement_fp16,
        int8_min_agreement=args.min_agreement_int8,
        max_auc_drop=args.max_auc_drop / 100.0,
    )
    backends = [b for b in args.backends.split(",") if b.strip()]
    result = compare_bundle(args.bundle, args.data, backends, gate, args.size, args.threshold)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        ref = result["reference"]
        print(
            f"{result['gate_set'].get('n_images')} images from {result['gate_set'].get('source')}; "
            f"reference {ref['artifact']} AUC {ref['auc'] if ref['auc'] is None else round(ref['auc'], 4)}; "
            f"threshold {result['threshold']:.6f}"
        )
        print("\n".join(gate_table(result)))
        print("PASS" if result["passed"] else "FAIL")
    return 0 if result["passed"] else 1
