"""Provenance evidence: what an image file says about its own origin (issue #13).

`read_evidence(path)` returns findings from C2PA Content Credentials (via the optional c2pa-python, extra
`provenance`), IPTC/XMP DigitalSourceType, generator parameters in PNG text chunks and EXIF Software. Evidence
sits beside the model's score; only `declares_generated_trusted` evidence may set a label, and only on opt-in.
Importing this package imports neither c2pa nor torch.
"""

from __future__ import annotations

from .c2pa_reader import c2pa_available
from .findings import (
    GENERATED_SOURCE_TYPES,
    SOURCES,
    Finding,
    declares_generated_trusted,
    is_generated_source_type,
)
from .limits import EvidenceOptions
from .reader import read_evidence

__all__ = [
    "GENERATED_SOURCE_TYPES",
    "SOURCES",
    "EvidenceOptions",
    "Finding",
    "c2pa_available",
    "declares_generated_trusted",
    "is_generated_source_type",
    "read_evidence",
]
