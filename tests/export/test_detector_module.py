"""DetectorModule: the training model's noise-free logits, without generator or text tower."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pinclip_sdk.errors import ExportError


@pytest.mark.parametrize(
    ("head", "injection"), [("linear", "pooled"), ("cosine", "cls"), ("linear", "tokens")]
)
def test_same_logits_as_training_model(tmp_path: Path, head: str, injection: str) -> None:
    from pinclip_sdk.export.detector_module import DetectorModule
    from pinclip_sdk.training.checkpoint import load_model
    from pinclip_sdk.training.testing import make_tiny_checkpoint

    checkpoint = make_tiny_checkpoint(tmp_path / "ck", head=head, injection=injection, steps=2)
    detector = DetectorModule.from_checkpoint(checkpoint)
    model, _ = load_model(checkpoint)
    pixels = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model.predict_logits(pixels, noise="none")
        actual = detector(pixels)
    assert actual.shape == (5,)
    assert float((expected - actual).abs().max()) <= 1e-5
    names = [name for name, _ in detector.named_parameters()]
    assert names, "the detector has parameters"
    assert not any("noise" in n or "lora" in n or "text" in n for n in names)
    assert model.noise_generator is not None  # the training model had one; the detector does not
    assert not any(isinstance(m, type(model.noise_generator)) for m in detector.modules())
    if head == "linear":
        assert detector.prompt_embeddings is None  # a linear head never sees the text side


def test_lora_is_merged(checkpoint: Path) -> None:
    from pinclip_sdk.export.detector_module import DetectorModule
    from pinclip_sdk.training.lora import has_lora

    detector = DetectorModule.from_checkpoint(checkpoint)
    assert not has_lora(detector.visual)


def test_refuses_a_model_that_is_not_a_pinclip() -> None:
    from pinclip_sdk.export.detector_module import DetectorModule

    with pytest.raises(ExportError, match="Linear has no `visual`; expected a PiNCLIP model"):
        DetectorModule.from_model(torch.nn.Linear(2, 1))


def test_detects_a_forward_features_that_is_not_the_tower(checkpoint: Path) -> None:
    """The equivalence check is real: a model whose features differ from visual(x) is refused."""
    from pinclip_sdk.export.detector_module import DetectorModule
    from pinclip_sdk.training.checkpoint import load_model

    model, _ = load_model(checkpoint)
    original = model.forward_features
    model.forward_features = lambda pixels: original(pixels) * 1.5  # type: ignore[method-assign]
    with pytest.raises(ExportError, match="disagrees with the training model"):
        DetectorModule.from_model(model)


def test_refuses_a_model_evaluated_with_inference_noise() -> None:
    """A model whose evaluation adds generator noise cannot deploy as scored: the detector is noise-free."""
    from dataclasses import replace

    from pinclip_sdk.export.detector_module import DetectorModule
    from pinclip_sdk.training.model import create_model
    from pinclip_sdk.training.testing import tiny_model_config

    config = tiny_model_config()
    config = replace(config, noise=replace(config.noise, inference="mean"))
    with pytest.raises(ExportError, match="noise.inference is 'mean'"):
        DetectorModule.from_model(create_model(config))
