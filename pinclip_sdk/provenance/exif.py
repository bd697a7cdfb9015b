"""EXIF `Software`, `Make` and `Model`: the tool that wrote the file and the camera that captured it."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from .findings import Finding
from .limits import MAX_STRING_CHARS
from .textutil import clip, names_generator

TAGS = {0x0131: "software", 0x010F: "make", 0x0110: "model", 0x013B: "artist"}


def parse_exif(data: bytes) -> Finding | None:
    """The finding of a raw EXIF block (TIFF header onwards); None when it names no tool or camera."""
    from PIL import Image

    exif = Image.Exif()
    try:
        with (
            warnings.catch_warnings()
        ):  # Pillow warns "Corrupt EXIF data"; the finding-free result says enough
            warnings.simplefilter("ignore")
            exif.load(b"Exif\x00\x00" + data)
            tags = {tag: exif.get(tag) for tag in TAGS}
    except Exception as e:  # noqa: BLE001 - Pillow's TIFF parser raises many types on hostile input
        return Finding("exif", error=f"EXIF cannot be parsed: {type(e).__name__}: {e}")
    return interpret_exif(tags)


def interpret_exif(tags: Mapping[int, object]) -> Finding | None:
    """A finding from EXIF tag values; bytes are decoded, other non-text values are recorded as errors."""
    says: dict[str, Any] = {}
    problems: list[str] = []
    for tag, key in TAGS.items():
        value = tags.get(tag)
        if value is None:
            continue
        if isinstance(value, bytes):
            value = value.split(b"\x00", 1)[0].decode("utf-8", errors="replace")
        if not isinstance(value, str):
            problems.append(f"{key} is {type(value).__name__}, not text")
            continue
        value = value.strip("\x00 \t\r\n")
        if value:
            says[key] = clip(value, MAX_STRING_CHARS)
    if not says and not problems:
        return None
    generated = names_generator(says.get("software"))
    if generated:
        says["generator"] = says["software"]
    return Finding("exif", says=says, declares_generated=generated, error="; ".join(problems) or None)
