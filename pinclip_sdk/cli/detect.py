"""Score images, folders or globs with a model bundle; one result per image.

Results go to stdout (or --output) as a table, JSON lines or CSV, written as they arrive; a
progress bar and a summary (counts of real / fake / uncertain / errors, throughput) go to stderr.
An image that cannot be read is reported as an `error` row and the run goes on.

Exit codes: 0 every image scored, 1 some images failed (or a fatal error), 2 usage error.

Examples:
    pinclip detect photos/ --model model.pinclip
    pinclip detect 'shots/**/*.jpg' --model model.pinclip --format jsonl --output results.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import glob
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pinclip_sdk.backends.base import BACKENDS
from pinclip_sdk.backends.select import PRECISIONS
from pinclip_sdk.imageio import is_image_file

FORMATS = ("table", "jsonl", "csv")
CSV_FIELDS = ("source", "label", "p_fake", "logit", "threshold", "model_id", "error")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders (recursive) or globs")
    parser.add_argument("--model", "-m", required=True, help="model bundle (*.pinclip folder)")
    parser.add_argument("--backend", default="auto", choices=("auto", *BACKENDS), help="inference backend")
    parser.add_argument("--precision", default="auto", choices=("auto", *PRECISIONS), help="precision")
    parser.add_argument("--threads", type=int, default=None, help="inference threads (default: all cores)")
    parser.add_argument("--threshold", type=float, default=None, help="override the bundle's threshold")
    parser.add_argument(
        "--exif-transpose",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rotate files by their EXIF orientation before scoring (default: what the bundle's spec "
        "records training did; stored pixels unless training rotated)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="images per inference batch")
    parser.add_argument("--format", default="table", choices=FORMATS, help="output format")
    parser.add_argument("--output", "-o", type=Path, default=None, help="write results here, not stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


class _LineProgress:
    """A minimal stderr progress line for machines without tqdm (it is not a runtime dependency)."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.count = total, desc, 0
        self._start = self._last = time.perf_counter()

    def update(self, n: int) -> None:
        self.count += n
        now = time.perf_counter()
        if now - self._last >= 0.5 or self.count == self.total:
            self._last = now
            rate = self.count / max(now - self._start, 1e-9)
            sys.stderr.write(f"\r{self.desc}: {self.count}/{self.total} ({rate:.1f} images/s)")
            sys.stderr.flush()

    def close(self) -> None:
        if self.count:
            sys.stderr.write("\n")


@contextlib.contextmanager
def progress_bar(total: int, desc: str, disable: bool = False) -> Iterator[Any]:
    """tqdm on stderr when installed and stderr is a terminal, else a plain progress line."""
    if disable or not sys.stderr.isatty():
        bar: Any = _NoProgress()
    else:
        try:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr)
        except ImportError:
            bar = _LineProgress(total, desc)
    try:
        yield bar
    finally:
        bar.close()


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def expand_paths(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Files from files, folders (recursive, image suffixes only) and globs; and what matched nothing."""
    found: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p.name))
            )
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(raw):
            matches = sorted(Path(p) for p in glob.glob(raw, recursive=True))  # noqa: PTH207
            files = [p for p in matches if p.is_file()]
            found.extend(files)
            if not files:
                missing.append(raw)
        else:
            missing.append(raw)
    return found, missing


class _Writer:
    """Streams results in one of `FORMATS`."""

    def __init__(self, stream: IO[str], fmt: str) -> None:
        self._stream = stream
        self._fmt = fmt
        self._csv = csv.DictWriter(stream, fieldnames=CSV_FIELDS) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writeheader()
        elif fmt == "table":
            stream.write(f"{'label':<9} {'p_fake':>8}  source\n")

    def write(self, row: dict[str, Any]) -> None:
        if self._fmt == "jsonl":
            self._stream.write(json.dumps(row, sort_keys=True) + "\n")
        elif self._csv is not None:
            self._csv.writerow({k: row.get(k) for k in CSV_FIELDS})
        else:
            p_fake = "-" if row["p_fake"] is None else f"{row['p_fake']:.4f}"
            note = f"  ({row['error']})" if row["error"] else ""
            self._stream.write(f"{row['label']:<9} {p_fake:>8}  {row['source']}{note}\n")


def _missing_rows(missing: list[str], detector: Any) -> Iterator[dict[str, Any]]:
    from pinclip_sdk.prediction import Prediction

    for raw in missing:
        error = f"no such file, folder or matching glob: {raw}"
        yield Prediction.failed(
            error, threshold=detector.rule.threshold, model_id=detector.model_id, source=raw
        ).to_dict()


def run(args: argparse.Namespace) -> int:
    from pinclip_sdk.detector import Detector

    if args.batch_size < 1:
        print("pinclip detect: error: --batch-size must be >= 1", file=sys.stderr)
        return 2
    files, missing = expand_paths(args.paths)
    if not files and not missing:
        print(f"pinclip detect: error: no images under {', '.join(args.paths)}", file=sys.stderr)
        return 1
    counts: Counter[str] = Counter()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        detector = stack.enter_context(
            Detector(
                args.model,
                args.backend,
                args.threads,
                args.precision,
                threshold=args.threshold,
                exif_transpose=args.exif_transpose,
            )
        )
        out = sys.stdout
        if args.output:
            try:
                out = stack.enter_context(open(args.output, "w", encoding="utf-8", newline=""))
            except OSError as exc:
                print(f"pinclip detect: error: cannot write --output {args.output}: {exc}", file=sys.stderr)
                return 1
        writer = _Writer(out, args.format)
        for row in _missing_rows(missing, detector):
            counts[row["label"]] += 1
            writer.write(row)
        bar = stack.enter_context(progress_bar(len(files), "detect", disable=args.no_progress))
        try:
            for prediction in detector.predict_paths(files, batch_size=args.batch_size):
                counts[prediction.label] += 1
                writer.write(prediction.to_dict())
                bar.update(1)
            out.flush()
        except BrokenPipeError:  # `pinclip detect ... | head`: the reader left; stop quietly
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
            return 1
        _summary(counts, time.perf_counter() - start, len(files), detector, args.output)
    return 1 if counts["error"] else 0


def _summary(counts: Counter[str], elapsed: float, scored: int, detector: Any, output: Path | None) -> None:
    total = sum(counts.values())
    parts = ", ".join(f"{counts[label]} {label}" for label in ("real", "fake", "uncertain"))
    errors = counts["error"]
    rate = scored / elapsed if elapsed > 0 else 0.0
    choice = detector.choice
    print(
        f"pinclip detect: {total} images: {parts}, {errors} error{'s' if errors != 1 else ''} "
        f"in {elapsed:.1f}s ({rate:.1f} images/s, {choice.backend}/{choice.precision}, "
        f"threshold {detector.rule.threshold:g})" + (f"; results in {output}" if output else ""),
        file=sys.stderr,
    )
