"""Audit a dataset: counts per split / generator / label, formats, sizes, unreadable files, shortcuts.

Decodes a stratified sample of the files (--max-files, default 2000; 0 = every file) and warns
about cues other than content that separate reals from fakes: file format (GenImage: reals are
JPEG, fakes PNG), exact image sizes, resolution and JPEG quality.

Example:
  pinclip data inspect GenImage/ --max-files 5000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    from pinclip_sdk.training.data import LAYOUTS

    parser.add_argument("path", type=Path, help="dataset folder or CSV/JSONL image list")
    parser.add_argument("--layout", default="auto", choices=LAYOUTS, help="dataset layout (default: detect)")
    parser.add_argument("--max-files", type=int, default=2000, help="files to decode (0 = all; default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _percent(counter: dict[str, int]) -> str:
    total = sum(counter.values())
    return ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in counter.items()) if total else "-"


def _sizes(sizes: dict[str, Any]) -> str:
    if not sizes:
        return "-"
    (w, h), count = sizes["most_common"]
    return (
        f"{sizes['min'][0]}x{sizes['min'][1]} .. {sizes['max'][0]}x{sizes['max'][1]}, "
        f"{sizes['distinct']} distinct, most common {w}x{h} ({count})"
    )


def render(report: dict[str, Any]) -> str:
    """The report as text for a terminal."""
    labels = report["by_label"]
    lines = [
        f"{report['path']}: layout {report['layout']}, {report['n_images']} images "
        f"({labels.get('real', 0)} real, {labels.get('fake', 0)} fake)",
        "",
    ]
    width = max([len(r["generator"]) for r in report["counts"]] + [9])
    lines.append(f"{'split':<8} {'generator':<{width}} {'real':>7} {'fake':>7}")
    for row in report["counts"]:
        lines.append(
            f"{row['split'] or '-':<8} {row['generator']:<{width}} {row['real']:>7} {row['fake']:>7}"
        )
    sampled = report["sampled"]
    scope = (
        "all files"
        if sampled["all"]
        else f"a stratified sample of {sampled['checked']} of {sampled['of']} files"
    )
    lines += ["", f"Decoded {scope}:"]
    for name, facts in report["classes"].items():
        quality = facts["jpeg_quality_median"]
        lines.append(
            f"  {name}: formats {_percent(facts['formats'])}; modes {_percent(facts['modes'])}"
            + (f"; JPEG quality ~{quality:.0f}" if quality is not None else "")
        )
        lines.append(f"  {' ' * len(name)}  sizes {_sizes(facts['sizes'])}")
    unreadable = report["unreadable"]
    lines.append(f"Unreadable: {unreadable['count']}")
    lines += [f"  {item['path']}: {item['error']}" for item in unreadable["files"][:10]]
    if report["skipped_non_image_files"]:
        lines.append(f"Non-image files ignored: {report['skipped_non_image_files']}")
    lines += [f"Note: {note}" for note in report["notes"]]
    if report["warnings"]:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in report["warnings"]]
    else:
        lines += ["", "No shortcut warnings."]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from pinclip_sdk.training.data.inspect import inspect_dataset
    from pinclip_sdk.training.reporting import to_json

    if args.max_files < 0:
        print("pinclip data inspect: error: --max-files must be >= 0", file=sys.stderr)
        return 2
    report = inspect_dataset(args.path, args.layout, args.max_files or None, args.seed, progress=True)
    print(to_json(report) if args.json else render(report))
    return 0
