"""Provenance evidence beside the score: a PNG naming its generator, and the opt-in label rule."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from pinclip_sdk import Detector
from pinclip_sdk.errors import ConfigError

pytest.importorskip("pinclip_sdk.provenance")


def _sd_png(path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, Model: sd15")
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(path, pnginfo=info)
    return path


def test_png_text_finding_is_reported_and_the_score_unchanged(tiny_bundle, tmp_path):
    path = _sd_png(tmp_path / "sd.png")
    with Detector(tiny_bundle, "onnxruntime", precision="fp32") as plain:
        baseline = plain.predict(path)
    with Detector(tiny_bundle, "onnxruntime", precision="fp32", evidence=True) as detector:
        result = detector.predict(path)
        batch = detector.predict_batch([path, path.read_bytes()])
    assert baseline.evidence is None
    assert result.p_fake == baseline.p_fake
    assert result.label_source == "model"
    row = result.to_dict()
    assert [f["source"] for f in row["evidence"]] == ["png_text"]
    assert row["evidence"][0]["declares_generated"] is True
    assert all(p.evidence == result.evidence for p in batch)


def test_provenance_sets_label_needs_evidence(tiny_bundle):
    with pytest.raises(ConfigError):
        Detector(tiny_bundle, "onnxruntime", provenance_sets_label=True)


def _provenance_helpers():
    """tests/provenance/conftest.py's signing helpers (conftests are not importable by name here)."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).parents[1] / "provenance" / "conftest.py"
    spec = importlib.util.spec_from_file_location("provenance_test_helpers", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def test_trusted_c2pa_sets_the_label_only_when_asked(tiny_bundle, tmp_path):
    pytest.importorskip("c2pa", reason="c2pa-python (extra provenance) signs the test file")
    pytest.importorskip("cryptography", reason="cryptography (extra dev) makes the test certificates")
    helpers = _provenance_helpers()
    chain = helpers._make_chain()
    path = tmp_path / "signed.jpg"
    path.write_bytes(helpers.sign(chain, helpers.jpeg_bytes(size=40), "image/jpeg"))
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(chain.root_pem)
    options = {"backend": "onnxruntime", "precision": "fp32", "threshold": 0.999999, "evidence": True}
    with Detector(tiny_bundle, **options, trust_anchors=anchors) as reporting:
        reported = reporting.predict(path)
    with Detector(tiny_bundle, **options, trust_anchors=anchors, provenance_sets_label=True) as labelling:
        labelled = labelling.predict(path)
    with Detector(tiny_bundle, **options, provenance_sets_label=True) as untrusting:
        untrusted = untrusting.predict(path)
    c2pa = [f for f in reported.evidence if f["source"] == "c2pa"]
    assert [(f["validation"], f["declares_generated"]) for f in c2pa] == [("valid", True)]
    assert (reported.label, reported.label_source) == ("real", "model")  # the score alone: below 0.999999
    assert (labelled.label, labelled.label_source) == ("fake", "provenance")
    assert labelled.p_fake == reported.p_fake  # the score itself never changes
    assert (untrusted.label, untrusted.label_source) == ("real", "model")  # unknown signer: no override
