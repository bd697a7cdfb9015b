"""`read_evidence`: every provenance source of one file, as a list of findings."""

from __future__ import annotations

import io
import os
from typing import BinaryIO

from ..errors import InvalidImageError
from .c2pa_reader import read_c2pa
from .containers import scan
from .exif import parse_exif
from .findings import Finding
from .limits import EvidenceOptions
from .pngtext import interpret_texts
from .xmp import parse_xmp

_HINTS = {"jpg": "jpeg", "jpeg": "jpeg", "image/jpeg": "jpeg", "png": "png", "image/png": "png"}
_HINTS |= {"webp": "webp", "image/webp": "webp"}
_DEFAULT_OPTIONS = EvidenceOptions()


def read_evidence(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    options: EvidenceOptions = _DEFAULT_OPTIONS,
    fmt_hint: str | None = None,
) -> list[Finding]:
    """What a file says about its own origin: C2PA, XMP DigitalSourceType, PNG generator text, EXIF Software.

    Never raises for bad metadata: each problem becomes a Finding with `error` set, and an image with no
    metadata gives []. Raises TypeError for an argument of the wrong type and InvalidImageError when a path
    cannot be opened. The container is sniffed from the bytes; `fmt_hint` ("jpeg", "png", "webp" or a MIME
    type) is only used for formats the walk does not know, to tell c2pa-python what it reads.
    """
    if not isinstance(options, EvidenceOptions):
        raise TypeError(f"options must be EvidenceOptions, got {type(options).__name__}")
    if fmt_hint is not None and not isinstance(fmt_hint, str):
        raise TypeError(f"fmt_hint must be a str or None, got {type(fmt_hint).__name__}")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _read(io.BytesIO(bytes(source)), options, fmt_hint)
    if isinstance(source, (str, os.PathLike)):
        try:
            f = open(source, "rb")  # noqa: SIM115 - closed below; opened lazily, metadata only is read
        except OSError as e:
            raise InvalidImageError(
                f"cannot read {os.fspath(source)!r} for evidence: {e.strerror or e}"
            ) from e
        with f:
            return _read(f, options, fmt_hint)
    raise TypeError(f"source must be a path or bytes, got {type(source).__name__}")


def _read(f: BinaryIO, options: EvidenceOptions, fmt_hint: str | None) -> list[Finding]:
    try:
        blocks = scan(f, options)
    except OSError as e:
        return [Finding("exif", error=f"file cannot be read: {e}")]
    findings: list[Finding] = [Finding(src, error=msg) for src, msg in blocks.errors]
    if options.c2pa:
        fmt = blocks.fmt or _HINTS.get((fmt_hint or "").lower())
        known = blocks.fmt is not None
        if blocks.c2pa_bytes or not known:
            c2pa = read_c2pa(f, fmt, blocks.c2pa_bytes, options)
            if c2pa is not None:
                findings.append(c2pa)
    for packet in blocks.xmp:
        xmp = parse_xmp(packet)
        if xmp is not None:
            findings.append(xmp)
    findings.extend(interpret_texts(blocks.texts))
    if blocks.exif is not None:
        exif = parse_exif(blocks.exif)
        if exif is not None:
            findings.append(exif)
    return findings
