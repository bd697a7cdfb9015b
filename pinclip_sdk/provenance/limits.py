"""Options of `read_evidence`: the trust list and the size limits that keep parsing bounded."""

from __future__ import annotations

from dataclasses import dataclass

# Structural limits of the container walk: no real file comes near them, hostile ones stop here.
MAX_BLOCKS = 4096  # JPEG segments / PNG chunks / RIFF chunks visited per file
MAX_TEXT_CHUNKS = 256  # PNG text chunks kept per file
MAX_EXIF_BYTES = 1 << 16  # a JPEG APP1 cannot hold more; PNG eXIf / WebP EXIF are held to the same
MAX_LIST_ITEMS = 32  # actions, keys ... listed in a finding
MAX_STRING_CHARS = 512  # a string quoted in a finding (prompts are cut, not copied whole)


@dataclass(frozen=True)
class EvidenceOptions:
    """How evidence is read.

    trust_anchors_pem: PEM bundle of the signer roots you trust; None trusts no signer, so a valid C2PA
        signature reads as "untrusted".
    max_xmp_bytes: an XMP packet larger than this is refused (finding with `error`).
    max_text_chunk_bytes: a PNG text chunk larger than this, compressed or not, is refused.
    max_c2pa_bytes: a C2PA store (JUMBF) larger than this is not handed to c2pa-python.
    c2pa: read C2PA Content Credentials when c2pa-python (extra `provenance`) is installed.
    """

    trust_anchors_pem: str | None = None
    max_xmp_bytes: int = 1 << 20
    max_text_chunk_bytes: int = 1 << 20
    max_c2pa_bytes: int = 16 << 20
    c2pa: bool = True

    def __post_init__(self) -> None:
        if self.trust_anchors_pem is not None and not isinstance(self.trust_anchors_pem, str):
            raise TypeError("trust_anchors_pem must be a PEM string or None")
        for name in ("max_xmp_bytes", "max_text_chunk_bytes", "max_c2pa_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TypeError(f"{name} must be a non-negative int, got {value!r}")
