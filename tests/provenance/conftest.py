"""Fixtures for the provenance tests: images carrying each kind of metadata, made in the test.

`c2pa_chain` is a throw-away test root CA and an ES256 leaf signing certificate with the key usage
(digitalSignature) and extended key usage (emailProtection) c2pa-rs requires of a signer; `signed_jpeg` /
`signed_png` are images signed with it, their manifest a `c2pa.created` action with digitalSourceType
trainedAlgorithmicMedia.
"""

from __future__ import annotations

import datetime
import io
import struct
from dataclasses import dataclass

import pytest
from PIL import Image, PngImagePlugin

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def xmp_packet(dst: str = TRAINED, tool: str | None = None, *, element: bool = False) -> bytes:
    """An XMP packet with Iptc4xmpExt:DigitalSourceType as an attribute (or as an element)."""
    tool_attr = f' xmp:CreatorTool="{tool}"' if tool else ""
    if element:
        body = f"<Iptc4xmpExt:DigitalSourceType>{dst}</Iptc4xmpExt:DigitalSourceType>"
        desc = f'<rdf:Description rdf:about=""{tool_attr}>{body}</rdf:Description>'
    else:
        desc = f'<rdf:Description rdf:about="" Iptc4xmpExt:DigitalSourceType="{dst}"{tool_attr}/>'
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f"{desc}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def _image(size: int = 32) -> Image.Image:
    return Image.new("RGB", (size, size), (200, 40, 90))


def png_bytes(
    texts: dict[str, str] | None = None, *, itxt: dict[str, str] | None = None, size: int = 32
) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in (texts or {}).items():
        info.add_text(k, v)
    for k, v in (itxt or {}).items():
        info.add_itxt(k, v)
    buf = io.BytesIO()
    _image(size).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_bytes(*, exif: bytes | None = None, xmp: bytes | None = None, size: int = 32) -> bytes:
    kwargs: dict[str, bytes] = {}
    if exif is not None:
        kwargs["exif"] = exif
    if xmp is not None:
        kwargs["xmp"] = xmp
    buf = io.BytesIO()
    _image(size).save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def raw_exif(entries: list[tuple[int, int, bytes]]) -> bytes:
    """An APP1 EXIF payload, a big-endian TIFF IFD of (tag, type, value) entries: types Pillow won't write."""
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 7: 1}
    head = b"MM\x00*" + struct.pack(">I", 8)
    data_at = 8 + 2 + 12 * len(entries) + 4
    ifd, data = struct.pack(">H", len(entries)), b""
    for tag, typ, value in entries:
        count = len(value) // sizes[typ]
        if len(value) <= 4:
            ifd += struct.pack(">HHI", tag, typ, count) + value.ljust(4, b"\x00")
        else:
            ifd += struct.pack(">HHII", tag, typ, count, data_at + len(data))
            data += value
    return b"Exif\x00\x00" + head + ifd + b"\x00\x00\x00\x00" + data


def insert_jpeg_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """`jpeg` with one more segment right after SOI."""
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def insert_png_chunk(png: bytes, ctype: bytes, payload: bytes) -> bytes:
    """`png` with one more chunk right after IHDR (CRC left zero: readers here do not check it)."""
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + struct.pack(">I", len(payload)) + ctype + payload + b"\x00" * 4 + png[ihdr_end:]


@dataclass(frozen=True)
class Chain:
    root_pem: str
    other_root_pem: str
    chain_pem: str  # leaf then root
    key_pem: str


def _make_chain() -> Chain:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PinCLIP Test"),
            ]
        )

    def usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(sign, False, False, False, False, ca, ca, False, False)

    def builder(subject: str, issuer: str, key) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )

    def root(cn: str):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            builder(cn, cn, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage(sign=False, ca=True), critical=True)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    root_key, root_cert = root("PinCLIP Test Root")
    _, other_cert = root("Some Other Root")
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        builder("PinCLIP Test Signer", "PinCLIP Test Root", leaf_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )

    def pem(cert) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return Chain(pem(root_cert), pem(other_cert), pem(leaf) + pem(root_cert), key_pem)


@pytest.fixture(scope="session")
def c2pa_chain() -> Chain:
    pytest.importorskip("cryptography", reason="cryptography (extra dev) makes the test certificates")
    return _make_chain()


def sign(chain: Chain, image: bytes, mime: str, dst: str = TRAINED) -> bytes:
    """`image` signed with a c2pa.created manifest whose digitalSourceType is `dst`."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "pinclip-test", "version": "1.0"}],
        "title": "generated.test",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": dst,
                            "softwareAgent": {"name": "TestGen 2"},
                        }
                    ]
                },
            }
        ],
    }
    info = c2pa.C2paSignerInfo(b"es256", chain.chain_pem.encode(), chain.key_pem.encode(), None)
    out = io.BytesIO()
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder:
        builder.sign(signer, mime, io.BytesIO(image), out)
    return out.getvalue()


@pytest.fixture(scope="session")
def signed_jpeg(c2pa_chain: Chain) -> bytes:
    pytest.importorskip("c2pa", reason="c2pa-python (extra provenance) signs the test files")
    return sign(c2pa_chain, jpeg_bytes(size=64), "image/jpeg")


@pytest.fixture(scope="session")
def signed_png(c2pa_chain: Chain) -> bytes:
    pytest.importorskip("c2pa", reason="c2pa-python (extra provenance) signs the test files")
    return sign(c2pa_chain, png_bytes(size=64), "image/png")
