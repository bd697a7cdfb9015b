"""Test helpers for other areas: a tiny, deterministic, really-trained PiN-CLIP checkpoint.

`make_tiny_checkpoint` builds the registered `pinclip-tiny-vit` backbone (random init, no download),
trains it for a few steps on synthetic tensors in which fakes carry a high-frequency pattern, and
saves it with `checkpoint.save_checkpoint`. It takes well under a second on a CPU, and the same
arguments give byte-identical weights. The LoRA adapters end up non-zero, so a merge is not a no-op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pinclip_sdk.training.config import DataConfig, LoRAConfig, ModelConfig, NoiseConfig, TrainConfig
from pinclip_sdk.training.threads import torch_threads


def tiny_model_config(
    noise: Literal["pin", "random", "none"] = "pin",
    finetune: Literal["lora", "full", "frozen"] = "lora",
    head: Literal["linear", "cosine"] = "cosine",
    injection: Literal["pooled", "cls", "tokens"] = "tokens",
    image_size: int = 32,
    view: dict[str, Any] | None = None,
) -> ModelConfig:
    """`ModelConfig` of the tiny random-init backbone (LoRA rank 4, no LoRA dropout); head and
    injection default as `ModelConfig` and `NoiseConfig` do; `view` sets `model.view` and its
    options (e.g. `{"view": "tiles", "tile_grid": (2, 2)}`)."""
    return ModelConfig(
        backbone="pinclip-tiny-vit",
        pretrained=None,
        image_size=image_size,
        finetune=finetune,
        lora=LoRAConfig(rank=4, alpha=8.0, dropout=0.0),
        head=head,
        noise=NoiseConfig(mode=noise, injection=injection),
        **(view or {}),
    )


def synthetic_batch(n: int, image_size: int, seed: int):  # -> tuple[Tensor, Tensor]
    """Normalised-looking pixels `[n, 3, S, S]` and labels; fakes (label 1) get a checkerboard."""
    import torch

    g = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % 2).float()
    pixels = torch.randn(n, 3, image_size, image_size, generator=g) * 0.5
    yy, xx = torch.meshgrid(torch.arange(image_size), torch.arange(image_size), indexing="ij")
    checker = ((yy + xx) % 2).float() * 2 - 1
    pixels = pixels + labels.view(n, 1, 1, 1) * checker * 0.8
    return pixels, labels


def make_tiny_checkpoint(
    directory: str | Path,
    seed: int = 0,
    noise: Literal["pin", "random", "none"] = "pin",
    finetune: Literal["lora", "full", "frozen"] = "lora",
    steps: int = 8,
    *,
    head: Literal["linear", "cosine"] = "linear",
    injection: Literal["pooled", "cls", "tokens"] = "pooled",
    image_size: int = 32,
    view: dict[str, Any] | None = None,
) -> Path:
    """Train the tiny model `steps` AdamW steps on synthetic tensors and save a checkpoint.

    Returns the checkpoint directory (`directory`), loadable with `checkpoint.load_model`.
    """

    from pinclip_sdk.training.checkpoint import save_checkpoint

    model_cfg = tiny_model_config(noise, finetune, head, injection, image_size, view)
    # Tensors this small gain nothing from intra-op threads, and on a busy CPU the thread hand-offs
    # cost 20x the work.
    with torch_threads(1):
        model = _train_tiny(model_cfg, seed, steps, image_size)
    config = TrainConfig(model=model_cfg, data=DataConfig(batch_size=16), seed=seed, max_steps=steps)
    return save_checkpoint(directory, model, config, metrics={"synthetic_steps": steps})


def _train_tiny(model_cfg: ModelConfig, seed: int, steps: int, image_size: int):  # -> PiNCLIP
    import torch

    from pinclip_sdk.training.config import LossConfig
    from pinclip_sdk.training.losses import pin_loss
    from pinclip_sdk.training.model import create_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model(model_cfg)
        model.train()
        params = [p for _, p in model.trainable_parameters()]
        optimizer = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.0)
        for step in range(steps):
            pixels, labels = synthetic_batch(16, image_size, seed * 1000 + step)
            out = model(pixels, labels)
            kl = out.noise.kl_to_prior() if out.noise is not None else None
            loss = pin_loss(out.clean_logits, labels, LossConfig(), out.noisy_logits, kl).total
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()
