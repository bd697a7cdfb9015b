"""IPTC / XMP provenance: DigitalSourceType and the creator tool, read from an XMP packet.

The packet is parsed with the standard library's expat after refusing any DTD, so entity expansion (billion
laughs) and external entities cannot happen whatever the expat version; the size is bounded by the caller.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .findings import Finding, is_generated_source_type, source_type_code
from .limits import MAX_STRING_CHARS
from .textutil import clip, names_generator

NS_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
NS_XMP = "http://ns.adobe.com/xap/1.0/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_TIFF = "http://ns.adobe.com/tiff/1.0/"

_FIELDS = {
    f"{{{NS_IPTC_EXT}}}DigitalSourceType": "digital_source_type",
    f"{{{NS_XMP}}}CreatorTool": "creator_tool",
    f"{{{NS_TIFF}}}Software": "software",
}


def parse_xmp(packet: bytes) -> Finding | None:
    """The finding of one XMP packet; None when it says nothing about origin."""
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return Finding("xmp", error="XMP packet declares a DTD or entities; refused (entity-expansion guard)")
    try:
        root = ET.fromstring(packet.strip(b"\x00 \t\r\n"))
    except ET.ParseError as e:
        return Finding("xmp", error=f"XMP packet is not well-formed XML: {e}")
    except (ValueError, RecursionError) as e:
        return Finding("xmp", error=f"XMP packet cannot be parsed: {e}")
    says: dict[str, Any] = {}
    for el in root.iter():
        for tag, key in _FIELDS.items():
            value = (
                el.get(tag) if key not in says else None
            )  # attribute form: <rdf:Description ns:Field="...">
            if value is None and el.tag == tag:
                value = _element_text(el)  # element form: <ns:Field>...</ns:Field>
            if value is not None and value.strip() and key not in says:
                says[key] = clip(value.strip(), MAX_STRING_CHARS)
    if not says:
        return None
    dst = says.get("digital_source_type")
    if dst is not None:
        says["digital_source_type"] = source_type_code(dst) or dst
    tool = says.get("creator_tool") or says.get("software")
    if tool:
        says["generator"] = tool
    generated = is_generated_source_type(dst) or names_generator(tool)
    return Finding("xmp", says=says, declares_generated=generated)


def _element_text(el: ET.Element) -> str | None:
    """Text of a simple or rdf:Alt/Seq/Bag-wrapped XMP property."""
    if el.text and el.text.strip():
        return el.text
    resource = el.get(f"{{{NS_RDF}}}resource")
    if resource:
        return resource
    for li in el.iter(f"{{{NS_RDF}}}li"):
        if li.text and li.text.strip():
            return li.text
    return None
