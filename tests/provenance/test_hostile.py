"""Malformed and hostile metadata: each problem is a finding with `error`, in bounded time, never raised."""

from __future__ import annotations

import time
import zlib

import pytest

from pinclip_sdk.errors import InvalidImageError
from pinclip_sdk.provenance import EvidenceOptions, Finding, read_evidence
from pinclip_sdk.provenance.exif import interpret_exif
from pinclip_sdk.provenance.pngtext import interpret_texts

from .conftest import insert_jpeg_segment, insert_png_chunk, jpeg_bytes, png_bytes, xmp_packet

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']><x:xmpmeta xmlns:x="adobe:ns:meta/">&lol9;</x:xmpmeta>'
)


def errors(findings: list[Finding], source: str) -> list[str]:
    return [f.error for f in findings if f.source == source and f.error]


def test_huge_xmp_is_refused_without_reading_it():
    huge = xmp_packet().decode() + " " * (2 << 20)
    start = time.perf_counter()
    findings = read_evidence(png_bytes(itxt={"XML:com.adobe.xmp": huge}))
    assert time.perf_counter() - start < 2.0
    [message] = errors(findings, "xmp")
    assert "max_xmp_bytes" in message
    small = EvidenceOptions(max_xmp_bytes=100)
    assert "max_xmp_bytes=100" in errors(read_evidence(jpeg_bytes(xmp=xmp_packet()), options=small), "xmp")[0]


def test_compressed_xmp_bomb_stops_at_the_limit():
    bomb = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zlib.compress(b" " * (64 << 20), 9)
    start = time.perf_counter()
    findings = read_evidence(insert_png_chunk(png_bytes(), b"iTXt", bomb))
    assert time.perf_counter() - start < 2.0
    assert errors(findings, "xmp")


def test_entity_expansion_is_refused():
    for data in (
        jpeg_bytes(xmp=BILLION_LAUGHS),
        png_bytes(itxt={"XML:com.adobe.xmp": BILLION_LAUGHS.decode()}),
    ):
        start = time.perf_counter()
        [message] = errors(read_evidence(data), "xmp")
        assert time.perf_counter() - start < 1.0
        assert "entit" in message


def test_malformed_xmp():
    [message] = errors(read_evidence(jpeg_bytes(xmp=b"<x:xmpmeta><unclosed")), "xmp")
    assert "not well-formed" in message


def test_huge_and_broken_text_chunks():
    findings = read_evidence(
        png_bytes({"parameters": "x" * 5000}), options=EvidenceOptions(max_text_chunk_bytes=1000)
    )
    assert "exceeds" in errors(findings, "png_text")[0]
    bad_json = read_evidence(png_bytes({"prompt": "{not json"}))
    assert "cannot be parsed" in errors(bad_json, "png_text")[0]
    assert not any(f.declares_generated for f in bad_json)
    not_utf8 = insert_png_chunk(png_bytes(), b"iTXt", b"parameters\x00\x00\x00\x00\x00\xff\xfe")
    assert "UTF-8" in errors(read_evidence(not_utf8), "png_text")[0]
    bomb = insert_png_chunk(png_bytes(), b"zTXt", b"parameters\x00\x00" + zlib.compress(b"a" * (8 << 20)))
    assert "oversized" in errors(read_evidence(bomb), "png_text")[0]


def test_text_values_of_wrong_types():
    findings = interpret_texts(
        [("parameters", 5), ("prompt", b"{}"), (7, "x"), ("workflow", None), ("Software", 1.5)]
    )
    assert [f.error for f in findings] == [
        "text chunk 'parameters' is int, not text",
        "text chunk 'prompt' is bytes, not text",
        "text chunk keyword is int, not text",
        "text chunk 'workflow' is NoneType, not text",
        "text chunk 'Software' is float, not text",
    ]
    assert interpret_texts([("prompt", "[1, 2]")])[0].error.startswith("'prompt' cannot be parsed")
    assert (
        interpret_texts([("workflow", '{"nodes": 3}')])[0].error
        == "'workflow' cannot be parsed: no node list"
    )


def test_exif_values_of_wrong_types():
    f = interpret_exif({0x0131: 12, 0x010F: b"Sony\x00junk", 0x0110: ["a"]})
    assert f is not None
    assert f.says == {"make": "Sony"}
    assert f.error == "software is int, not text; model is list, not text"
    assert interpret_exif({}) is None
    bad_ifd = read_evidence(jpeg_bytes(exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f"))  # offset past the end
    assert all(f.source == "exif" for f in bad_ifd)


def test_garbage_and_truncated_files_never_raise():
    png = png_bytes({"parameters": "a\nSteps: 1"})
    for data in (
        b"",
        b"\xff\xd8\xff",
        png[:40],
        png[:-20],
        jpeg_bytes()[:30],
        b"RIFF\x00\x00\x00\x00WEBPVP8X",
        b"\x00" * 64,
    ):
        assert all(isinstance(f, Finding) for f in read_evidence(data))
    endless = b"\xff\xd8" + b"\xff\xfe\x00\x02" * 100_000  # 100k empty COM segments
    start = time.perf_counter()
    read_evidence(endless)
    assert time.perf_counter() - start < 1.0


def test_broken_c2pa_store_is_a_finding():
    pytest.importorskip("c2pa")
    garbage_app11 = insert_jpeg_segment(
        jpeg_bytes(), 0xEB, b"JP\x02\x11\x00\x00\x00\x01" + b"\x00\x00\x00\x40jumb" + b"\xab" * 64
    )
    garbage_cabx = insert_png_chunk(png_bytes(), b"caBX", b"\x00\x00\x00\x30jumb" + b"\x13" * 40)
    for data in (garbage_app11, garbage_cabx):
        [f] = [f for f in read_evidence(data) if f.source == "c2pa"]
        assert f.error
        assert f.validation == "invalid"
        assert not f.declares_generated


def test_oversized_c2pa_store_is_not_verified():
    data = insert_png_chunk(png_bytes(), b"caBX", b"\x00" * 4096)
    [f] = read_evidence(data, options=EvidenceOptions(max_c2pa_bytes=1024))
    assert f.source == "c2pa"
    assert "max_c2pa_bytes=1024" in f.error
    assert f.validation == "invalid"


def test_programmer_errors_raise(tmp_path):
    with pytest.raises(TypeError):
        read_evidence(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        read_evidence(b"", options={"c2pa": False})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        EvidenceOptions(max_xmp_bytes="big")  # type: ignore[arg-type]
    with pytest.raises(InvalidImageError, match="missing.png"):
        read_evidence(tmp_path / "missing.png")
