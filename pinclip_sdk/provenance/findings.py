"""What one metadata source says about a file's origin, and the IPTC vocabulary that marks generated media."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SOURCES = ("c2pa", "xmp", "png_text", "exif")

# IPTC NewsCodes digital source types (http://cv.iptc.org/newscodes/digitalsourcetype/) that state the media
# was made by an algorithm rather than captured: generative AI, composites with generated parts, pure
# algorithmic media.
GENERATED_SOURCE_TYPES = frozenset(
    {
        "trainedAlgorithmicMedia",
        "compositeWithTrainedAlgorithmicMedia",
        "compositeSynthetic",
        "algorithmicMedia",
    }
)


def source_type_code(value: object) -> str | None:
    """The short IPTC code of a digitalSourceType value (full URI or bare code); None for a non-string."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().rstrip("/").rsplit("/", 1)[-1]


def is_generated_source_type(value: object) -> bool:
    """True when `value` is an IPTC digitalSourceType that marks generated media."""
    return source_type_code(value) in GENERATED_SOURCE_TYPES


@dataclass(frozen=True)
class Finding:
    """One source's statement about the file. `error` set means the metadata was malformed or hostile."""

    source: str
    says: dict[str, Any] = field(default_factory=dict)
    declares_generated: bool = False
    validation: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, the shape rows and `Prediction.evidence` carry."""
        return {
            "source": self.source,
            "says": dict(self.says),
            "declares_generated": self.declares_generated,
            "validation": self.validation,
            "error": self.error,
        }


def declares_generated_trusted(findings: Sequence[Finding]) -> bool:
    """True when a C2PA manifest signed by a trusted signer, intact, declares generated media.

    This is the only evidence strong enough for the opt-in `provenance_sets_label`; unsigned metadata (XMP,
    PNG text, EXIF) is trivially forged or stripped and never qualifies.
    """
    return any(
        f.source == "c2pa" and f.validation == "valid" and f.declares_generated and f.error is None
        for f in findings
    )
