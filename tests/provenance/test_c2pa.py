"""C2PA Content Credentials signed in the test: trusted, untrusted (no or another root), tampered."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pinclip_sdk.provenance import EvidenceOptions, Finding, declares_generated_trusted, read_evidence

from .conftest import Chain, jpeg_bytes, sign

pytest.importorskip("c2pa", reason="c2pa-python (extra provenance) is not installed")


def c2pa_finding(findings: list[Finding]) -> Finding:
    [f] = [f for f in findings if f.source == "c2pa"]
    return f


@pytest.fixture(params=["jpeg", "png"])
def signed(request, signed_jpeg: bytes, signed_png: bytes) -> bytes:
    return signed_jpeg if request.param == "jpeg" else signed_png


def test_trusted_signer_is_valid(signed: bytes, c2pa_chain: Chain):
    findings = read_evidence(signed, options=EvidenceOptions(trust_anchors_pem=c2pa_chain.root_pem))
    f = c2pa_finding(findings)
    assert f.validation == "valid"
    assert f.error is None
    assert f.declares_generated
    assert f.says["digital_source_type"] == "trainedAlgorithmicMedia"
    assert f.says["actions"] == [
        {
            "action": "c2pa.created",
            "digitalSourceType": "trainedAlgorithmicMedia",
            "softwareAgent": "TestGen 2",
        }
    ]
    assert f.says["claim_generator"].startswith("pinclip-test/1.0")
    assert f.says["generator"] == "TestGen 2"
    assert f.says["signer"]["common_name"] == "PinCLIP Test Signer"
    assert declares_generated_trusted(findings)
    json.dumps([x.to_dict() for x in findings])


@pytest.mark.parametrize("anchors", ["none", "other"])
def test_unknown_signer_is_untrusted(signed: bytes, c2pa_chain: Chain, anchors: str):
    pem = None if anchors == "none" else c2pa_chain.other_root_pem
    findings = read_evidence(signed, options=EvidenceOptions(trust_anchors_pem=pem))
    f = c2pa_finding(findings)
    assert f.validation == "untrusted"
    assert f.error is None
    assert f.declares_generated
    assert "signingCredential.untrusted" in f.says["validation_codes"]
    assert not declares_generated_trusted(findings)


def test_tampered_after_signing_is_invalid(signed_jpeg: bytes, c2pa_chain: Chain):
    tampered = bytearray(signed_jpeg)
    for i in (-200, -300, -400):  # inside the entropy-coded image data, before EOI
        tampered[i] ^= 0xFF
    findings = read_evidence(bytes(tampered), options=EvidenceOptions(trust_anchors_pem=c2pa_chain.root_pem))
    f = c2pa_finding(findings)
    assert f.validation == "invalid"
    assert f.declares_generated
    assert any("mismatch" in c for c in f.says["validation_codes"])
    assert not declares_generated_trusted(findings)


def test_truncated_store_is_invalid_with_error(signed_jpeg: bytes):
    start = signed_jpeg.index(b"\xff\xeb")
    broken = bytearray(signed_jpeg)
    broken[start + 60 : start + 400] = b"\x00" * 340  # JUMBF boxes zeroed mid-store, segment lengths kept
    f = c2pa_finding(read_evidence(bytes(broken)))
    assert f.validation == "invalid"


def test_capture_source_type_does_not_declare_generated(c2pa_chain: Chain):
    capture = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    data = sign(c2pa_chain, jpeg_bytes(), "image/jpeg", dst=capture)
    findings = read_evidence(data, options=EvidenceOptions(trust_anchors_pem=c2pa_chain.root_pem))
    f = c2pa_finding(findings)
    assert f.validation == "valid"
    assert not f.declares_generated
    assert not declares_generated_trusted(findings)


def test_c2pa_off_and_c2pa_missing(signed_jpeg: bytes, monkeypatch: pytest.MonkeyPatch):
    assert read_evidence(signed_jpeg, options=EvidenceOptions(c2pa=False)) == []
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa now raises ImportError
    f = c2pa_finding(read_evidence(signed_jpeg))
    assert f.validation is None
    assert "c2pa-python is not installed" in f.error


def test_import_is_lazy():
    code = "import sys, pinclip_sdk.provenance; print('c2pa' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
