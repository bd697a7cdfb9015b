"""Score images and videos (files, folders or globs) with a model bundle; one result row per file.

Images go through the batched pipeline; each video (mp4, m4v, mov, mkv, webm, avi; the `video`
extra) is sampled (one frame a second by default), scored frame by frame through the same
pipeline and aggregated into one row (docs/video.md). Results go to stdout (or --output) as a
table, JSON lines or CSV, written as they arrive; progress (a bar per video) and a summary
(counts of real / fake / uncertain / errors, videos, files with provenance) go to stderr. A file
that cannot be read is reported as an `error` row and the run goes on; a video whose decoding
stopped early is scored on the frames read before it and marked `partial`.

Each row also carries what the file says about its own origin (C2PA, XMP DigitalSourceType, PNG
generator text, EXIF Software), beside the score (docs/provenance.md; --no-evidence turns it off).

Exit codes: 0 every file scored, 1 some files failed (or a fatal error), 2 usage error.

Examples:
    pinclip detect photos/ --model model.pinclip
    pinclip detect uploads/ --model model.pinclip --format jsonl --output results.jsonl
    pinclip detect clip.mp4 --model model.pinclip --every-s 0.5 --aggregate max
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
from pinclip_sdk.prediction import AGGREGATES
from pinclip_sdk.video import is_video_file

FORMATS = ("table", "jsonl", "csv")
# CSV: `frames` is the number of scored frames (videos), `evidence` the findings as compact JSON
CSV_FIELDS = (
    "kind",
    "source",
    "label",
    "p_fake",
    "logit",
    "threshold",
    "model_id",
    "frames",
    "partial",
    "evidence",
    "error",
)


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
    video = parser.add_argument_group("videos (docs/video.md)")
    sampling = video.add_mutually_exclusive_group()
    sampling.add_argument(
        "--every-s",
        type=float,
        default=None,
        metavar="S",
        help="score one frame every S seconds (0: every frame; default: one a second)",
    )
    sampling.add_argument(
        "--frames", type=int, default=None, metavar="N", help="score N frames spread over the video"
    )
    sampling.add_argument(
        "--keyframes", action="store_true", help="score the keyframes only (fastest decode)"
    )
    video.add_argument(
        "--aggregate",
        default="mean_logit",
        choices=AGGREGATES,
        help="frame scores -> video score (default mean_logit: the calibrated frame threshold applies)",
    )
    add_provenance_arguments(parser, "file")


def add_provenance_arguments(parser: argparse.ArgumentParser, noun: str) -> None:
    """--evidence / --trust-anchors / --provenance-sets-label, shared by `detect` and `serve`."""
    provenance = parser.add_argument_group("provenance (docs/provenance.md)")
    provenance.add_argument(
        "--evidence",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"read what each {noun} says about its origin (C2PA, XMP, PNG text, EXIF) into its `evidence`; "
        "never changes the score (default: on; it costs < 0.1 ms a file, a few ms with a C2PA manifest)",
    )
    provenance.add_argument(
        "--trust-anchors", type=Path, default=None, metavar="PEM", help="C2PA signer certificates to trust"
    )
    provenance.add_argument(
        "--provenance-sets-label",
        action="store_true",
        help=f"label a {noun} fake when trusted, valid C2PA provenance declares it generated "
        "(needs --evidence)",
    )


class _LineProgress:
    """A minimal stderr progress line for machines without tqdm (it is not a runtime dependency)."""

    def __init__(self, total: int | None, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit, self.count = total, desc, unit, 0
        self._start = self._last = time.perf_counter()

    def update(self, n: int, total: int | None = None) -> None:
        self.count += n
        self.total = total if total is not None else self.total
        now = time.perf_counter()
        if now - self._last >= 0.5 or self.count == self.total:
            self._last = now
            rate = self.count / max(now - self._start, 1e-9)
            of = f"/{self.total}" if self.total is not None else ""
            sys.stderr.write(f"\r{self.desc}: {self.count}{of} ({rate:.1f} {self.unit}s/s)")
            sys.stderr.flush()

    def close(self) -> None:
        if self.count:
            sys.stderr.write("\n")


class _TqdmProgress:
    """tqdm behind the same `update(n, total)` as `_LineProgress` (a video's total is known late)."""

    def __init__(self, total: int | None, desc: str, unit: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)

    def update(self, n: int, total: int | None = None) -> None:
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


class _NoProgress:
    def update(self, n: int, total: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


@contextlib.contextmanager
def progress_bar(total: int | None, desc: str, disable: bool = False, unit: str = "img") -> Iterator[Any]:
    """tqdm on stderr when installed and stderr is a terminal, else a plain progress line."""
    bar: Any
    if disable or not sys.stderr.isatty():
        bar = _NoProgress()
    else:
        try:
            bar = _TqdmProgress(total, desc, unit)
        except ImportError:
            bar = _LineProgress(total, desc, unit)
    try:
        yield bar
    finally:
        bar.close()


def _is_media_file(name: str) -> bool:
    return is_image_file(name) or is_video_file(name)


def expand_paths(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Files from files, folders (recursive, image and video suffixes only) and globs; and what matched
    nothing."""
    found: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and _is_media_file(p.name)))
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
            self._csv.writerow(_csv_row(row))
        else:
            p_fake = "-" if row["p_fake"] is None else f"{row['p_fake']:.4f}"
            notes = []
            if row.get("kind") == "video":
                notes.append(f"{len(row['frames'])} frames" + (", partial" if row["partial"] else ""))
            if row.get("evidence"):
                notes.append("provenance: " + ", ".join(sorted({f["source"] for f in row["evidence"]})))
            if row["error"]:
                notes.append(row["error"])
            note = f"  ({'; '.join(notes)})" if notes else ""
            self._stream.write(f"{row['label']:<9} {p_fake:>8}  {row['source']}{note}\n")


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    values = {k: row.get(k) for k in CSV_FIELDS}
    if isinstance(values["frames"], list):
        values["frames"] = len(values["frames"])
    if values["evidence"] is not None:
        values["evidence"] = json.dumps(values["evidence"], sort_keys=True, separators=(",", ":"))
    return values


def _runs(files: list[Path]) -> Iterator[tuple[str, list[Path]]]:
    """Consecutive images as one batched run, each video on its own, in the order given."""
    images: list[Path] = []
    for path in files:
        if is_video_file(path.name):
            if images:
                yield "image", images
                images = []
            yield "video", [path]
        else:
            images.append(path)
    if images:
        yield "image", images


def _video_row(detector: Any, path: Path, args: argparse.Namespace, bar: Any) -> dict[str, Any]:
    """One video's row; a video that cannot be scored at all is an `error` row of kind `video`."""
    from pinclip_sdk.errors import PinclipError
    from pinclip_sdk.prediction import Prediction

    shown = 0

    def progress(done: int, expected: int | None) -> None:
        nonlocal shown
        bar.update(done - shown, expected)
        shown = done

    try:
        prediction = detector.predict_video(
            path,
            every_s=args.every_s,
            frames=args.frames,
            keyframes=args.keyframes,
            aggregate=args.aggregate,
            batch_size=args.batch_size,
            progress=progress,
        )
        return prediction.to_dict()
    except (PinclipError, OSError) as exc:
        failed = Prediction.failed(
            f"{type(exc).__name__}: {exc}",
            threshold=detector.rule.threshold,
            model_id=detector.model_id,
            source=str(path),
        ).to_dict()
        return {**failed, "kind": "video", "frames": [], "partial": False}


def _missing_rows(missing: list[str], detector: Any) -> Iterator[dict[str, Any]]:
    from pinclip_sdk.prediction import Prediction

    for raw in missing:
        error = f"no such file, folder or matching glob: {raw}"
        yield Prediction.failed(
            error, threshold=detector.rule.threshold, model_id=detector.model_id, source=raw
        ).to_dict()


def run(args: argparse.Namespace) -> int:
    from pinclip_sdk.detector import Detector

    usage = _usage_error(args)
    if usage:
        print(f"pinclip detect: error: {usage}", file=sys.stderr)
        return 2
    files, missing = expand_paths(args.paths)
    if not files and not missing:
        print(f"pinclip detect: error: no images or videos under {', '.join(args.paths)}", file=sys.stderr)
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
                evidence=args.evidence,
                trust_anchors=args.trust_anchors,
                provenance_sets_label=args.provenance_sets_label,
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
            _count(counts, row)
            writer.write(row)
        images = sum(not is_video_file(p.name) for p in files)
        bar = stack.enter_context(progress_bar(images, "detect", disable=args.no_progress or not images))
        try:
            for kind, paths in _runs(files):
                if kind == "video":
                    with progress_bar(None, f"video {paths[0].name}", args.no_progress, "frame") as frames:
                        row = _video_row(detector, paths[0], args, frames)
                    _count(counts, row)
                    writer.write(row)
                    out.flush()
                    continue
                for prediction in detector.predict_paths(paths, batch_size=args.batch_size):
                    row = prediction.to_dict()
                    _count(counts, row)
                    writer.write(row)
                    bar.update(1)
            out.flush()
        except BrokenPipeError:  # `pinclip detect ... | head`: the reader left; stop quietly
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
            return 1
        _summary(counts, time.perf_counter() - start, len(files), detector, args.output)
    return 1 if counts["error"] else 0


def _usage_error(args: argparse.Namespace) -> str | None:
    if args.batch_size < 1:
        return "--batch-size must be >= 1"
    if args.every_s is not None and not (args.every_s >= 0 and args.every_s != float("inf")):
        return "--every-s must be a finite number >= 0"
    if args.frames is not None and args.frames < 1:
        return "--frames must be >= 1"
    if args.provenance_sets_label and not args.evidence:
        return "--provenance-sets-label needs --evidence"
    if args.trust_anchors is not None and not args.evidence:
        return "--trust-anchors needs --evidence"
    return None


def _count(counts: Counter[str], row: dict[str, Any]) -> None:
    counts[row["label"]] += 1
    counts["videos"] += row.get("kind") == "video"
    counts["provenance"] += bool(row.get("evidence"))
    counts["partial"] += bool(row.get("partial"))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _summary(counts: Counter[str], elapsed: float, scored: int, detector: Any, output: Path | None) -> None:
    total = sum(counts[label] for label in ("real", "fake", "uncertain", "error"))
    parts = ", ".join(f"{counts[label]} {label}" for label in ("real", "fake", "uncertain"))
    errors = counts["error"]
    rate = scored / elapsed if elapsed > 0 else 0.0
    choice = detector.choice
    videos = counts["videos"]
    media = f"{_plural(total - videos, 'image')}, {_plural(videos, 'video')}"
    if counts["partial"]:
        media += f" ({counts['partial']} partial)"
    extra = f", {counts['provenance']} with provenance" if detector.evidence_enabled else ""
    print(
        f"pinclip detect: {total} files ({media}{extra}): {parts}, {_plural(errors, 'error')} "
        f"in {elapsed:.1f}s ({rate:.1f} files/s, {choice.backend}/{choice.precision}, "
        f"threshold {detector.rule.threshold:g})" + (f"; results in {output}" if output else ""),
        file=sys.stderr,
    )
