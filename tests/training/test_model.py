"""PiNCLIP model: shapes per injection point and head, LoRA, noise generator, objective."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.training.config import LoRAConfig, LossConfig, ModelConfig, NoiseConfig
from pinclip_sdk.training.lora import LoRAMultiheadAttention, has_lora
from pinclip_sdk.training.losses import pin_loss
from pinclip_sdk.training.model import TINY_BACKBONE, create_model
from pinclip_sdk.training.noise import NoiseGenerator
from pinclip_sdk.training.testing import synthetic_batch, tiny_model_config


def _model(seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(tiny_model_config(**kwargs))


def _randomise_lora(model: nn.Module) -> None:
    """LoRA B starts at zero (a no-op); give it values so merging is actually tested."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.2)


@pytest.mark.parametrize("injection", ["pooled", "cls", "tokens"])
@pytest.mark.parametrize("head", ["linear", "cosine"])
def test_forward_shapes_and_merged_lora_matches(injection: str, head: str) -> None:
    model = _model(injection=injection, head=head)
    pixels, labels = synthetic_batch(4, 32, seed=1)
    out = model(pixels, labels, num_samples=3)
    assert out.clean_logits.shape == (4,)
    assert out.noisy_logits.shape == (3, 4)
    _randomise_lora(model)
    model.eval()
    with torch.no_grad():
        before = model.forward_head(model.forward_features(pixels))
        model.merge_lora()
        after = model.forward_head(model.forward_features(pixels))
    assert not has_lora(model)
    assert model.lora_merged
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)


def test_merged_tower_is_plain_open_clip() -> None:
    import open_clip

    model = _model()
    _randomise_lora(model)
    model.merge_lora()
    plain = open_clip.create_model(TINY_BACKBONE).visual
    assert set(model.visual.state_dict()) == set(plain.state_dict())
    assert all(type(b.attn) is nn.MultiheadAttention for b in model.visual.transformer.resblocks)


def test_lora_layers_and_trainable_sets() -> None:
    cfg = dataclasses.replace(tiny_model_config(), lora=LoRAConfig(rank=2, dropout=0.0, layers=(-1,)))
    torch.manual_seed(0)
    model = create_model(cfg)
    blocks = model.visual.transformer.resblocks
    assert [isinstance(b.attn, LoRAMultiheadAttention) for b in blocks] == [False, True]
    visual_trainable = {n for n, p in model.visual.named_parameters() if p.requires_grad}
    assert visual_trainable
    assert all("lora_" in n for n in visual_trainable)
    full = _model(finetune="full")
    assert all(p.requires_grad for p in full.visual.parameters())
    frozen = _model(finetune="frozen", noise="none", head="linear")
    assert [n for n, _ in frozen.trainable_parameters()] == ["head.fc.weight", "head.fc.bias"]
    with pytest.raises(ConfigError, match="block 5 does not exist"):
        create_model(dataclasses.replace(cfg, lora=LoRAConfig(layers=(5,))))


def test_pin_generator_receives_gradients() -> None:
    model = _model(noise="pin")
    pixels, labels = synthetic_batch(8, 32, seed=2)
    out = model(pixels, labels)
    kl = out.noise.kl_to_prior()
    pin_loss(out.clean_logits, labels, LossConfig(kl_weight=0.1), out.noisy_logits, kl).total.backward()
    grads = {n: p.grad for n, p in model.noise_generator.named_parameters()}
    assert grads
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["fc_mean.weight"].abs().sum() > 0
    assert grads["fc_std.bias"].abs().sum() > 0
    lora_grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]  # A gets none while B = 0
    assert any(g is not None and g.abs().sum() > 0 for g in lora_grads)


def test_none_mode_has_no_generator_parameters() -> None:
    model = _model(noise="none")
    assert model.noise_generator is None
    assert not any("noise" in n for n, _ in model.trainable_parameters())
    pixels, labels = synthetic_batch(4, 32, seed=3)
    out = model(pixels, labels)
    assert out.noisy_logits is None
    assert out.noise is None
    terms = pin_loss(out.clean_logits, labels, LossConfig(), out.noisy_logits)
    assert set(terms.as_floats()) == {"loss", "loss_clean"}


def test_random_mode_uses_fixed_sigma_without_parameters() -> None:
    model = _model(noise="random")
    assert model.noise_generator is None
    out = model(synthetic_batch(4, 32, seed=4)[0])
    # sigma is relative: random_sigma times the features' running std, per dimension
    expected = model.config.noise.random_sigma * model.feature_scale.std
    torch.testing.assert_close(out.noise.std, expected.expand_as(out.noise.std))
    assert torch.all(out.noise.mean == 0)
    assert not torch.equal(out.noisy_logits[0], out.clean_logits)


@pytest.mark.parametrize("sigma_max", [None, 0.5])
def test_sigma_strictly_positive_even_at_extremes(sigma_max: float | None) -> None:
    cfg = NoiseConfig(sigma_floor=1e-4, sigma_max=sigma_max)
    gen = NoiseGenerator(16, 8, cfg)
    with torch.no_grad():
        gen.fc_std.bias.fill_(-1e4)
    features = torch.randn(5, 16) * 1e3
    std = gen(features, torch.randn(2, 8)).std
    assert torch.all(std >= 1e-4)
    with torch.no_grad():
        gen.fc_std.bias.fill_(1e4)
    std = gen(features, torch.randn(2, 8)).std
    assert torch.all(std > 0)
    assert torch.isfinite(std).all()
    if sigma_max is not None:
        assert torch.all(std <= sigma_max)


def test_label_conditioning_attends_to_true_class_only() -> None:
    gen = NoiseGenerator(16, 8, NoiseConfig(conditioning="label"))
    prompts = torch.randn(2, 8)
    features = torch.randn(4, 16)
    with pytest.raises(ValueError, match="needs the labels"):
        gen(features, prompts)
    a = gen(features, prompts, torch.tensor([0, 0, 1, 1]))
    b = gen(features, prompts * torch.tensor([[1.0], [5.0]]), torch.tensor([0, 0, 1, 1]))
    torch.testing.assert_close(a.std[:2], b.std[:2])  # real-labelled rows ignore the fake prompt
    assert not torch.allclose(a.std[2:], b.std[2:])
    with pytest.raises(ConfigError, match="inference = 'none'"):
        NoiseConfig(conditioning="label", inference="mean")


def test_loss_terms_follow_weights() -> None:
    clean = torch.tensor([2.0, -2.0])
    noisy = torch.tensor([[1.0, -1.0], [0.0, 0.0]])
    labels = torch.tensor([1, 0])
    terms = pin_loss(clean, labels, LossConfig(noisy_weight=0.5, kl_weight=2.0), noisy, torch.tensor(0.25))
    expected_noisy = (
        2 * torch.nn.functional.softplus(torch.tensor(-1.0)) + 2 * torch.log(torch.tensor(2.0))
    ) / 4
    torch.testing.assert_close(terms.noisy, expected_noisy)
    torch.testing.assert_close(terms.total, terms.clean + 0.5 * terms.noisy + 2.0 * 0.25)


def test_predict_logits_inference_modes() -> None:
    model = _model(noise="pin").eval()
    pixels = synthetic_batch(4, 32, seed=5)[0]
    plain = model.forward_head(model.forward_features(pixels))
    torch.testing.assert_close(model.predict_logits(pixels), plain)
    assert model.predict_logits(pixels, noise="mean").shape == (4,)
    assert model.predict_logits(pixels, noise="sample").shape == (4,)


def test_prompts_cached_and_text_tower_dropped() -> None:
    model = _model()
    assert model.prompt_embeddings.shape == (2, 32)
    assert not any(
        name.startswith(("transformer.", "token_embedding")) for name, _ in model.named_parameters()
    )
    other = create_model(dataclasses.replace(tiny_model_config(), prompts=("a photo", "a rendering")))
    assert not torch.equal(other.prompt_embeddings, model.prompt_embeddings)


def test_unknown_backbone_and_bad_config_are_clear() -> None:
    with pytest.raises(ConfigError, match="Did you mean"):
        create_model(ModelConfig(backbone="ViT-L-41", pretrained=None))
    with pytest.raises(ConfigError, match="not one of"):
        ModelConfig(finetune="partial")
    with pytest.raises(ConfigError, match="two non-empty strings"):
        ModelConfig(prompts=("only one",))


def test_preprocess_spec_and_presets() -> None:
    from pinclip_sdk.training.model import preprocess_spec_for
    from pinclip_sdk.training.presets import build_config

    assert _model(image_size=64).preprocess_spec.size == (64, 64)
    paper = build_config(preset="paper")
    assert (paper.model.backbone, paper.model.pretrained, paper.model.lora.rank) == ("ViT-L-14", "openai", 6)
    spec = preprocess_spec_for(paper.model)  # config only: no weights are downloaded
    assert spec.size == (224, 224)
    assert spec.interpolation == "bicubic"
    edge = build_config(preset="edge", overrides=["model.noise.mode=none", "optim.lr=2e-4"])
    assert edge.model.backbone == "ViT-B-16"
    assert edge.model.noise.mode == "none"
    assert edge.optim.lr == 2e-4


def test_lora_dropout_only_in_training_and_presets_round_trip() -> None:
    from pinclip_sdk.training.config import TrainConfig, from_dict, to_dict
    from pinclip_sdk.training.presets import PRESETS, build_config

    cfg = dataclasses.replace(tiny_model_config(), lora=LoRAConfig(rank=4, dropout=0.5))
    torch.manual_seed(0)
    model = create_model(cfg)
    _randomise_lora(model)
    pixels = synthetic_batch(4, 32, seed=6)[0]
    model.train()
    assert not torch.equal(model(pixels).clean_logits, model(pixels).clean_logits)  # dropout is live
    model.eval()
    with torch.no_grad():
        before = model.forward_head(model.forward_features(pixels))
        model.merge_lora()
        torch.testing.assert_close(
            model.forward_head(model.forward_features(pixels)), before, atol=1e-5, rtol=0
        )
    for name in PRESETS:
        config = build_config(preset=name)
        assert from_dict(TrainConfig, to_dict(config)) == config
