"""Show the SDK version, the preprocessing core's build and SIMD level, and backend library versions."""

from __future__ import annotations

import argparse
import json
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def core_info() -> dict[str, Any]:
    """Version and SIMD level of `pinclip_sdk._core`, or why it is unavailable."""
    try:
        from pinclip_sdk import _core
    except ImportError as exc:
        return {"available": False, "error": str(exc)}
    info: dict[str, Any] = {"available": True, "version": getattr(_core, "__version__", None)}
    kernels = getattr(_core, "simd_kernels", None)  # 'avx512vnni', 'avx2', 'neon' or 'scalar'
    info["simd_level"] = kernels() if callable(kernels) else None
    return info


def run(args: argparse.Namespace) -> int:
    import pinclip_sdk
    from pinclip_sdk.machine import library_versions

    report = {"pinclip_sdk": pinclip_sdk.__version__, "core": core_info(), "libraries": library_versions()}
    if args.json:
        print(json.dumps(report, sort_keys=True, default=str))
        return 0
    core = report["core"]
    print(f"pinclip-sdk {report['pinclip_sdk']}")
    if core["available"]:
        simd = core.get("simd_level") or "unknown"
        print(f"core        {core.get('version')} (SIMD: {simd})")
    else:
        print(f"core        unavailable ({core['error']})")
    for name, version in report["libraries"].items():
        print(f"{name:<11} {version or 'not installed'}")
    return 0
