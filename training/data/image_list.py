"""CSV / JSONL image lists: one image per row with `path`, `label` and optional `generator`, `split`.

An image list subsumes every folder layout: relative paths are resolved against the list's folder,
labels accept 0/1/real/fake. Rows naming missing files are an error, never silently dropped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from pinclip_sdk.errors import DatasetError
from pinclip_sdk.training.data.sample import Sample, parse_label

IMAGE_LIST_SUFFIXES = (".csv", ".jsonl")
DEFAULT_GENERATOR = "unspecified"
_PATH_KEYS = ("path", "filepath", "filename", "file", "image")


def _rows(image_list: Path) -> Iterator[tuple[int, dict]]:
    """`(line number, row)` pairs of a CSV (with a header) or JSONL file; keys lower-cased."""
    # utf-8-sig: spreadsheets save CSV with a byte-order mark, which would otherwise rename `path`
    with open(image_list, newline="", encoding="utf-8-sig") as handle:
        if image_list.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise DatasetError(
                    f"{image_list}: empty CSV image list (expected a header: path,label,generator,split)"
                )
            for row in reader:
                yield reader.line_num, {str(k).strip().lower(): v for k, v in row.items() if k is not None}
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{image_list}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DatasetError(
                    f"{image_list}:{number}: expected a JSON object per line, got {type(row).__name__}"
                )
            yield number, {str(k).lower(): v for k, v in row.items()}


def _path_of(row: dict, where: str) -> str:
    for key in _PATH_KEYS:
        value = row.get(key)
        if value not in (None, ""):
            return str(value)
    raise DatasetError(f"{where}: no image path (expected a 'path' column; row has {sorted(row)})")


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def read_image_list(image_list: Path) -> list[Sample]:
    """Samples listed in a CSV or JSONL image list.

    Raises:
        DatasetError: unknown suffix, a row without path or with a bad label, or files that do not exist.
    """
    if image_list.suffix.lower() not in IMAGE_LIST_SUFFIXES:
        raise DatasetError(f"{image_list}: an image list must end in {' or '.join(IMAGE_LIST_SUFFIXES)}")
    base = image_list.parent
    samples: list[Sample] = []
    missing: list[str] = []
    for number, row in _rows(image_list):
        where = f"{image_list}:{number}"
        if "label" not in row:
            raise DatasetError(f"{where}: no 'label' column (row has {sorted(row)})")
        path = Path(_path_of(row, where)).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            missing.append(str(path))
            continue
        generator = _text(row.get("generator")) or DEFAULT_GENERATOR
        split = _text(row.get("split")).lower() or None
        samples.append(Sample(path, parse_label(row["label"], where), generator, split))
    if missing:
        shown = ", ".join(missing[:5])
        raise DatasetError(
            f"{image_list}: {len(missing)} listed file(s) do not exist (relative paths are resolved "
            f"against {base}): {shown}{' ...' if len(missing) > 5 else ''}"
        )
    return samples
