"""Positive-incentive noise that can act on feature directions, and that cannot collapse silently."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pinclip_sdk.training.config import ModelConfig
from pinclip_sdk.training.model import create_model
from pinclip_sdk.training.testing import synthetic_batch, tiny_model_config


def _per_image_gradient_cosine(config: ModelConfig, samples: int = 4) -> torch.Tensor:
    """Per image: cosine between the feature gradients of the clean BCE and of the noisy BCE.

    The noise is sampled from the generator and held fixed, so only the path through the head counts:
    the one the issue's derivation is about (a linear head on the pooled embedding makes them parallel).
    """
    torch.manual_seed(0)
    model = create_model(config).train()
    pixels, labels = synthetic_batch(8, config.image_size, seed=1)
    features = model.forward_features(pixels).detach().requires_grad_(True)
    with torch.no_grad():
        noise = model._noise_params(features, labels).sample(samples)
    clean = F.binary_cross_entropy_with_logits(model.forward_head(features), labels, reduction="sum")
    (grad_clean,) = torch.autograd.grad(clean, features)
    noisy_logits = model.forward_head((features.unsqueeze(0) + noise).flatten(0, 1)).view(samples, -1)
    noisy = F.binary_cross_entropy_with_logits(noisy_logits, labels.expand(samples, -1), reduction="sum")
    (grad_noisy,) = torch.autograd.grad(noisy, features)
    return F.cosine_similarity(grad_clean.flatten(1), grad_noisy.flatten(1), dim=1)


def test_default_noise_gradient_is_not_parallel_to_the_clean_one() -> None:
    cosine = _per_image_gradient_cosine(tiny_model_config())
    assert float(cosine.mean()) < 0.99, cosine


def test_pini_noise_path_gradient_is_not_parallel_to_the_clean_one() -> None:
    """The `pini` preset's path: noise on the pooled embedding in feature units, cosine head."""
    from pinclip_sdk.training.presets import PRESETS

    config = tiny_model_config()
    preset = PRESETS["pini"]["model"]["noise"]
    keys = ("injection", "sigma_scale", "detach_input")
    noise = dataclasses.replace(config.noise, **{key: preset[key] for key in keys})
    assert (noise.injection, noise.sigma_scale) == ("pooled", "absolute")
    cosine = _per_image_gradient_cosine(dataclasses.replace(config, noise=noise))
    assert float(cosine.mean()) < 0.99, cosine


def test_linear_head_on_the_pooled_embedding_reduces_noise_to_logit_noise() -> None:
    """The degenerate variant the default avoids: each image's two gradients point the same way."""
    cosine = _per_image_gradient_cosine(tiny_model_config(head="linear", injection="pooled"))
    assert float(cosine.min()) > 0.9999, cosine


def test_linear_head_with_pooled_noise_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pinclip_sdk.training.model"):
        create_model(tiny_model_config(head="linear", injection="pooled"))
    assert "cannot act on feature directions" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pinclip_sdk.training.model"):
        create_model(tiny_model_config(head="linear", injection="tokens"))
        create_model(tiny_model_config(head="cosine"))
    assert "cannot act on feature directions" not in caplog.text


def test_label_conditioning_has_no_learnable_mean() -> None:
    config = tiny_model_config()
    config = dataclasses.replace(config, noise=dataclasses.replace(config.noise, conditioning="label"))
    model = create_model(config).train()
    names = [name for name, _ in model.noise_generator.named_parameters()]
    assert names
    assert not any("mean" in name for name in names), names
    pixels, labels = synthetic_batch(6, config.image_size, seed=2)
    out = model(pixels, labels)
    assert torch.count_nonzero(out.noise.mean) == 0
    assert float(out.noise.std.detach().mean()) > 0


def test_sigma_is_relative_to_the_running_feature_std() -> None:
    model = create_model(tiny_model_config(noise="random", injection="pooled")).train()
    pixels, labels = synthetic_batch(64, 32, seed=3)
    for _ in range(3):
        out = model(pixels, labels)
    feature_std = out.features.detach().std(dim=0)
    torch.testing.assert_close(model.feature_scale.std, feature_std, rtol=0.05, atol=1e-6)
    assert float(out.noise.relative_std()) == pytest.approx(model.config.noise.random_sigma, rel=1e-5)
    before = model.feature_scale.std.clone()
    model.eval()
    model(pixels * 3, labels)
    assert torch.equal(model.feature_scale.std, before)  # frozen outside training


def test_sigma_stays_above_the_floor_through_a_run(tiny_config, genimage_root, caplog, capsys) -> None:
    from pinclip_sdk.cli import main
    from pinclip_sdk.training.checkpoint import read_checkpoint_config
    from pinclip_sdk.training.trainer import train

    config = tiny_config(max_steps=24, epochs=100)
    floor = config.model.noise.min_relative_sigma
    with caplog.at_level(logging.WARNING, logger="pinclip_sdk.training.trainer"):
        result = train(config)
    lines = [json.loads(line) for line in (result.out_dir / "metrics.jsonl").read_text().splitlines()]
    sigma = [r["sigma_rel"] for r in lines if r["event"] == "train"]
    assert len(sigma) == 24
    assert min(sigma) > floor, sigma
    assert "noise has collapsed" not in caplog.text
    recorded = read_checkpoint_config(result.last_checkpoint)["metrics"]["noise"]
    assert set(recorded) == {"sigma_rel", "mu_rel", "loss_gap"}
    assert recorded["sigma_rel"] == pytest.approx(sigma[-1])
    # `pinclip eval` reports them with what it scored
    args = ["eval", str(result.last_checkpoint), str(genimage_root), "--split", "val", "--json"]
    assert main([*args, "--no-progress", "--workers", "0"]) == 0
    noise = json.loads(capsys.readouterr().out)["training_noise"]
    assert (noise["mode"], noise["scored_with"]) == ("pin", "none")
    assert noise["sigma_rel"] == pytest.approx(sigma[-1])


def test_collapsed_sigma_warns_once(tiny_config, caplog) -> None:
    from pinclip_sdk.training.trainer import train

    config = tiny_config(max_steps=4)
    noise = dataclasses.replace(config.model.noise, min_relative_sigma=1e6)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, noise=noise))
    with caplog.at_level(logging.WARNING, logger="pinclip_sdk.training.trainer"):
        train(config)
    assert caplog.text.count("noise has collapsed") == 1


def test_legacy_checkpoint_keeps_the_noise_it_was_trained_with(tmp_path: Path) -> None:
    """A checkpoint saved before the relative-sigma fields loads with the behaviour it was trained with."""
    from pinclip_sdk.training.checkpoint import load_model, save_checkpoint

    config = tiny_model_config()
    legacy = dataclasses.replace(
        config,
        logit_scale="learned",
        noise=dataclasses.replace(
            config.noise, sigma_activation="softplus", init="near_zero", sigma_scale="absolute",
            min_relative_sigma=0.0,
        ),
    )  # fmt: skip
    torch.manual_seed(0)
    model = create_model(legacy).eval()
    checkpoint = save_checkpoint(tmp_path / "ckpt", model, legacy)
    path = checkpoint / "config.json"
    data = json.loads(path.read_text())
    data["model"].pop("logit_scale")
    for key in ("sigma_activation", "init", "sigma_scale", "mean", "prior_scale", "min_relative_sigma"):
        data["model"]["noise"].pop(key)
    path.write_text(json.dumps(data))
    loaded, loaded_config = load_model(checkpoint)
    assert loaded_config.noise == legacy.noise
    assert loaded_config.logit_scale == "learned"
    assert loaded.feature_scale is None
    pixels, _ = synthetic_batch(4, config.image_size, seed=4)
    torch.testing.assert_close(loaded.predict_logits(pixels), model.predict_logits(pixels), rtol=0, atol=0)
