"""Show a model bundle: model, preprocessing, threshold, artifacts and whether their hashes verify.

Exit code 1 when the bundle cannot be loaded or an artifact fails verification.

Example:
    pinclip info model.pinclip
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="model bundle (*.pinclip folder)")
    parser.add_argument("--no-verify", action="store_true", help="skip hashing the artifacts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def describe_bundle(path: Path, verify: bool = True) -> dict[str, Any]:
    """Manifest summary plus per-artifact verification status (`ok`, `skipped` or the error)."""
    from pinclip_sdk.bundle import Bundle
    from pinclip_sdk.errors import BundleError

    bundle = Bundle.load(path)
    manifest = bundle.manifest
    artifacts = []
    for artifact in manifest.artifacts:
        status = "skipped"
        if verify:
            try:
                bundle.verify(artifact)
                status = "ok"
            except BundleError as exc:
                status = str(exc)
        artifacts.append(
            {
                "name": artifact.name,
                "backend": artifact.backend,
                "precision": artifact.precision,
                "files": [f.path for f in artifact.files],
                "size_bytes": sum(f.size for f in artifact.files),
                "sha256": artifact.files[0].sha256,
                "verified": status,
            }
        )
    threshold = manifest.threshold
    return {
        "bundle": str(bundle.root),
        "schema_version": manifest.schema_version,
        "model_id": manifest.model_id,
        "created": manifest.created,
        "backbone": manifest.backbone,
        "preprocess": manifest.preprocess.to_dict(),
        "threshold": {
            "value": threshold.value,
            "method": threshold.method,
            "uncertain_band": threshold.uncertain_band,
            "evidence": threshold.evidence,
        },
        "output": manifest.output,
        "metrics": manifest.metrics,
        "artifacts": artifacts,
    }


def run(args: argparse.Namespace) -> int:
    report = describe_bundle(args.bundle, verify=not args.no_verify)
    failed = [a for a in report["artifacts"] if a["verified"] not in ("ok", "skipped")]
    if args.json:
        print(json.dumps(report, sort_keys=True, default=str))
        return 1 if failed else 0
    t = report["threshold"]
    print(f"bundle     {report['bundle']} (schema {report['schema_version']}, created {report['created']})")
    print(f"model      {report['model_id']}  backbone {json.dumps(report['backbone'], sort_keys=True)}")
    pre = report["preprocess"]
    print(
        f"preprocess {pre['size'][0]}x{pre['size'][1]} {pre['resize_mode']} {pre['interpolation']}, "
        f"mean {pre['mean']}, std {pre['std']}"
    )
    band = f", uncertain band {t['uncertain_band']}" if t["uncertain_band"] else ""
    print(f"threshold  {t['value']:g} on p_fake ({t['method']}{band})")
    print("artifacts")
    for a in report["artifacts"]:
        mark = "ok" if a["verified"] == "ok" else ("not checked" if a["verified"] == "skipped" else "FAILED")
        size = a["size_bytes"] / 1e6
        name = f"{a['name']:<20} {a['backend']:<12} {a['precision']:<5}"
        print(f"  {name} {size:9.2f} MB  {a['sha256'][:12]}  {mark}")
        if mark == "FAILED":
            print(f"    {a['verified']}")
    return 1 if failed else 0
