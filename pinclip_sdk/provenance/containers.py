"""A bounded walk over the metadata blocks of JPEG, PNG and WebP files.

Only block headers are read for everything else; pixel data is skipped with seeks, so the cost does not grow
with the image. Each block over its size limit is skipped and recorded as an error for its source.
"""

from __future__ import annotations

import contextlib
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from .limits import MAX_BLOCKS, MAX_EXIF_BYTES, MAX_TEXT_CHUNKS, EvidenceOptions

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PNG_KEYWORD = "XML:com.adobe.xmp"
EXIF_JPEG_HEADER = b"Exif\x00\x00"


@dataclass
class Blocks:
    """The raw metadata found in one file, before interpretation."""

    fmt: str | None = None  # "jpeg" | "png" | "webp" | None (not walked)
    xmp: list[bytes] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)  # PNG text chunks, (keyword, value)
    exif: bytes | None = None
    c2pa_bytes: int = 0  # size of the C2PA store (JUMBF) found; 0 when there is none
    errors: list[tuple[str, str]] = field(default_factory=list)  # (source, what went wrong)


def sniff(head: bytes) -> str | None:
    """The container of a file from its first 12 bytes."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def scan(f: BinaryIO, options: EvidenceOptions) -> Blocks:
    """Walk the file's metadata blocks; never raises for malformed data (it stops and keeps what it found)."""
    head = f.read(12)
    blocks = Blocks(fmt=sniff(head))
    f.seek(0)
    walk = {"jpeg": _walk_jpeg, "png": _walk_png, "webp": _walk_webp}.get(blocks.fmt or "")
    if walk is not None:
        with contextlib.suppress(struct.error, EOFError):  # truncated: what was found before still counts
            walk(f, blocks, options)
    return blocks


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _take_xmp(blocks: Blocks, data: bytes, options: EvidenceOptions) -> None:
    if len(data) > options.max_xmp_bytes:
        blocks.errors.append(
            ("xmp", f"XMP packet of {len(data)} bytes exceeds max_xmp_bytes={options.max_xmp_bytes}")
        )
    else:
        blocks.xmp.append(data)


def _take_exif(blocks: Blocks, data: bytes) -> None:
    if len(data) > MAX_EXIF_BYTES:
        blocks.errors.append(("exif", f"EXIF block of {len(data)} bytes exceeds {MAX_EXIF_BYTES}"))
    elif blocks.exif is None:
        blocks.exif = data


def _walk_jpeg(f: BinaryIO, blocks: Blocks, options: EvidenceOptions) -> None:
    f.seek(2)
    for _ in range(MAX_BLOCKS):
        byte = _read_exact(f, 1)
        if byte != b"\xff":
            return  # not a marker: corrupt stream, stop
        marker = _read_exact(f, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _read_exact(f, 1)[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        if marker in (0xDA, 0xD9):
            return  # start of scan / end of image: metadata comes before it
        (length,) = struct.unpack(">H", _read_exact(f, 2))
        size = length - 2
        if size < 0:
            return
        if marker == 0xE1:  # APP1: EXIF or XMP (at most 64 KiB by construction)
            payload = _read_exact(f, size)
            if payload.startswith(EXIF_JPEG_HEADER):
                _take_exif(blocks, payload[len(EXIF_JPEG_HEADER) :])
            elif payload.startswith(XMP_JPEG_HEADER):
                _take_xmp(blocks, payload[len(XMP_JPEG_HEADER) :], options)
        elif marker == 0xEB:  # APP11: JUMBF, where C2PA lives in JPEG
            if _read_exact(f, min(size, 2)) == b"JP":
                blocks.c2pa_bytes += size
            f.seek(size - min(size, 2), 1)
        else:
            f.seek(size, 1)


def _inflate(data: bytes, limit: int) -> bytes | None:
    """zlib-decompress at most `limit` bytes; None when the output would be larger (a zip bomb stops here)."""
    d = zlib.decompressobj()
    out = d.decompress(data, limit + 1)
    return None if len(out) > limit or d.unconsumed_tail else out


def _walk_png(f: BinaryIO, blocks: Blocks, options: EvidenceOptions) -> None:
    f.seek(len(PNG_SIGNATURE))
    for _ in range(MAX_BLOCKS):
        length, ctype = struct.unpack(">I4s", _read_exact(f, 8))
        if length > 0x7FFFFFFF:
            return
        if ctype == b"IEND":
            return
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            if length > max(options.max_text_chunk_bytes, options.max_xmp_bytes):
                start = f.tell()
                keyword = f.read(80).partition(b"\x00")[0]
                source = "xmp" if keyword == XMP_PNG_KEYWORD.encode() else "png_text"
                limit = "max_xmp_bytes" if source == "xmp" else "max_text_chunk_bytes"
                blocks.errors.append(
                    (source, f"{ctype.decode()} chunk of {length} bytes exceeds {limit}; skipped")
                )
                f.seek(start + length)
            else:
                _png_text(ctype, _read_exact(f, length), blocks, options)
        elif ctype == b"eXIf":
            if length > MAX_EXIF_BYTES:
                blocks.errors.append(("exif", f"eXIf chunk of {length} bytes exceeds {MAX_EXIF_BYTES}"))
                f.seek(length, 1)
            else:
                _take_exif(blocks, _read_exact(f, length))
        elif ctype == b"caBX":  # C2PA store in PNG
            blocks.c2pa_bytes += length
            f.seek(length, 1)
        else:
            f.seek(length, 1)
        f.seek(4, 1)  # CRC


def _png_text(ctype: bytes, data: bytes, blocks: Blocks, options: EvidenceOptions) -> None:
    """Decode one tEXt / zTXt / iTXt chunk into blocks.texts (or blocks.xmp for the XMP keyword)."""
    keyword_raw, sep, rest = data.partition(b"\x00")
    if not sep or not keyword_raw:
        blocks.errors.append(("png_text", f"{ctype.decode()} chunk without a keyword"))
        return
    keyword = keyword_raw[:79].decode("latin-1")
    is_xmp = ctype == b"iTXt" and keyword == XMP_PNG_KEYWORD
    limit = options.max_xmp_bytes if is_xmp else options.max_text_chunk_bytes
    if is_xmp and len(data) > limit:
        _take_xmp(blocks, data, options)  # records the error
        return
    if not is_xmp and len(data) > limit:
        blocks.errors.append(("png_text", f"text chunk {keyword!r} of {len(data)} bytes exceeds {limit}"))
        return
    text: bytes | None
    if ctype == b"tEXt":
        value = rest.decode("latin-1")
    elif ctype == b"zTXt":
        text = _inflate(rest[1:], limit) if rest[:1] == b"\x00" else None
        if text is None:
            blocks.errors.append(("png_text", f"zTXt chunk {keyword!r}: bad or oversized compressed text"))
            return
        value = text.decode("latin-1")
    else:
        if len(rest) < 2:
            blocks.errors.append(("png_text", f"iTXt chunk {keyword!r} is truncated"))
            return
        compressed, body = rest[0], rest[2:]
        parts = body.split(b"\x00", 2)
        if len(parts) != 3:
            blocks.errors.append(("png_text", f"iTXt chunk {keyword!r} is malformed"))
            return
        text = _inflate(parts[2], limit) if compressed else parts[2]
        if text is None:
            blocks.errors.append(
                ("xmp" if is_xmp else "png_text", f"iTXt {keyword!r}: bad or oversized text")
            )
            return
        if is_xmp:
            _take_xmp(blocks, text, options)
            return
        try:
            value = text.decode("utf-8")
        except UnicodeDecodeError as e:
            blocks.errors.append(("png_text", f"iTXt chunk {keyword!r} is not UTF-8: {e.reason}"))
            return
    if len(blocks.texts) < MAX_TEXT_CHUNKS:
        blocks.texts.append((keyword, value))


def _walk_webp(f: BinaryIO, blocks: Blocks, options: EvidenceOptions) -> None:
    f.seek(12)
    for _ in range(MAX_BLOCKS):
        fourcc, length = struct.unpack("<4sI", _read_exact(f, 8))
        padded = length + (length & 1)
        if fourcc == b"XMP ":
            if length > options.max_xmp_bytes:
                blocks.errors.append(
                    ("xmp", f"XMP chunk of {length} bytes exceeds max_xmp_bytes={options.max_xmp_bytes}")
                )
                f.seek(padded, 1)
                continue
            _take_xmp(blocks, _read_exact(f, length), options)
            f.seek(padded - length, 1)
        elif fourcc == b"EXIF":
            if length > MAX_EXIF_BYTES:
                blocks.errors.append(("exif", f"EXIF chunk of {length} bytes exceeds {MAX_EXIF_BYTES}"))
                f.seek(padded, 1)
                continue
            data = _read_exact(f, length)
            _take_exif(blocks, data[len(EXIF_JPEG_HEADER) :] if data.startswith(EXIF_JPEG_HEADER) else data)
            f.seek(padded - length, 1)
        else:
            if fourcc == b"C2PA":
                blocks.c2pa_bytes += length
            f.seek(padded, 1)
