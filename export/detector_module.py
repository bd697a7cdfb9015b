"""`DetectorModule`: the deployed graph, the visual tower (LoRA merged) plus the head.

At inference PiN-CLIP drops its noise generator: the detector is `head(visual(pixels))`. This module
holds exactly those two parts (no generator, no text tower), so everything exported from it (ONNX,
OpenVINO, TensorRT) carries only the detector's parameters. `from_model` proves the equivalence:
it compares its logits with the training model's own `forward_head(forward_features(x))` on a
random batch and refuses to go on when they differ by more than `PARITY_ATOL`.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pinclip_sdk.errors import ExportError
from pinclip_sdk.spec import PreprocessSpec

_logger = logging.getLogger(__name__)

PARITY_ATOL = 1e-5


class DetectorModule(nn.Module):
    """`pixel_values` float32 `[N, 3, H, W]` -> `logits` float32 `[N]` (p_fake = sigmoid(logit)).

    Args:
        visual: the CLIP vision tower, with any LoRA folded into plain weights.
        head: `head(features, prompt_embeddings) -> [N]` logits (the training package's heads).
        prompt_embeddings: the cached `[2, D]` prompt embeddings, or `None` when the head ignores
            them (a linear head): then nothing of the text side reaches the graph.
        preprocess_spec: how images become `pixel_values` (written into the bundle).
        backbone: description of the backbone for the manifest (name, pretrained tag, ...).
    """

    def __init__(
        self,
        visual: nn.Module,
        head: nn.Module,
        prompt_embeddings: torch.Tensor | None = None,
        preprocess_spec: PreprocessSpec | None = None,
        backbone: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.visual = visual
        self.head = head
        if prompt_embeddings is not None:
            self.register_buffer("prompt_embeddings", prompt_embeddings.detach().clone().float())
        else:
            self.prompt_embeddings = None
        self.preprocess_spec = preprocess_spec or PreprocessSpec()
        self.backbone = dict(backbone or {})

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.visual(pixel_values)
        if isinstance(features, tuple):  # towers built with output_tokens=True
            features = features[0]
        return self.head(features, self.prompt_embeddings).reshape(-1)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.preprocess_spec.size

    @classmethod
    def from_model(cls, model: nn.Module, check: bool = True) -> DetectorModule:
        """Build from a `PiNCLIP` training model (left untouched: the module works on a copy).

        Raises:
            ExportError: the model lacks `visual`/`head`, or the detector's logits differ from the
                model's own noise-free logits by more than `PARITY_ATOL`.
        """
        for name in ("visual", "head", "forward_features", "forward_head"):
            if not hasattr(model, name):
                raise ExportError(f"{type(model).__name__} has no `{name}`; expected a PiNCLIP model")
        model = copy.deepcopy(model).eval()
        reference = copy.deepcopy(model) if check else None
        if hasattr(model, "merge_lora"):
            model.merge_lora()
        spec = getattr(model, "preprocess_spec", None)
        prompts = getattr(model, "prompt_embeddings", None)
        if prompts is not None and not _head_uses_prompts(model.head, prompts):
            prompts = None
        _refuse_inference_noise(model)
        from pinclip_sdk.training.heads import with_fixed_prompts

        # a cosine head carries its unit prompts as one buffer: nothing of the text side is left to fold
        head = with_fixed_prompts(model.head, prompts)
        if head is not model.head:
            prompts = None
        detector = cls(model.visual, head, prompts, spec, _backbone_of(model)).eval()
        detector.requires_grad_(False)
        detector.backbone["image_size"] = list(detector.image_size)
        if reference is not None:
            max_diff = _max_logit_difference(detector, reference)
            if max_diff > PARITY_ATOL:
                raise ExportError(
                    f"DetectorModule disagrees with the training model by {max_diff:.3g} "
                    f"(allowed {PARITY_ATOL:g}): the model's forward_features is not visual(x) with noise off"
                )
            detector.build_max_diff = max_diff
        return detector

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> DetectorModule:
        """Load a training checkpoint directory (`model.safetensors` + `config.json`)."""
        from pinclip_sdk.training.checkpoint import load_model

        model, config = load_model(path)
        detector = cls.from_model(model)
        detector.backbone.setdefault("checkpoint", str(Path(path)))
        detector.training_config = config
        return detector


@torch.no_grad()
def _head_uses_prompts(head: nn.Module, prompts: torch.Tensor) -> bool:
    """Whether the head's output depends on the prompt embeddings (cosine: yes, linear: no)."""
    features = torch.randn(2, prompts.shape[-1], generator=torch.Generator().manual_seed(0))
    other = torch.randn(prompts.shape, generator=torch.Generator().manual_seed(1))
    return not torch.equal(head(features, prompts), head(features, other))


def _refuse_inference_noise(model: nn.Module) -> None:
    """The exported graph has no generator: a model evaluated with test-time noise would deploy
    something other than what its validation and `pinclip eval` scored."""
    noise = getattr(getattr(model, "config", None), "noise", None)
    inference = getattr(noise, "inference", "none")
    if inference != "none":
        raise ExportError(
            f"model.noise.inference is {inference!r}: its evaluation adds noise from the generator, which "
            "the exported detector does not have (it runs noise-free). Export a model configured with "
            "noise.inference = none, whose validation scored the noise-free logit that deploys."
        )


def _backbone_of(model: nn.Module) -> dict[str, Any]:
    """The manifest's `backbone` entry from the model config (name, tag, fine-tune mode, head, ...)."""
    config = getattr(model, "config", None)
    backbone: dict[str, Any] = {"name": str(getattr(config, "backbone", type(model).__name__))}
    for key in ("pretrained", "finetune", "head", "image_size", "quick_gelu", "prompts"):
        value = getattr(config, key, None)
        backbone[key] = list(value) if isinstance(value, tuple) else value
    noise = getattr(config, "noise", None)
    if noise is not None:
        backbone["training_noise"] = {
            "mode": getattr(noise, "mode", None),
            "injection": getattr(noise, "injection", None),
            "sigma_scale": getattr(noise, "sigma_scale", None),
            "deployed": "none (generator removed)",
        }
    return backbone


@torch.no_grad()
def _max_logit_difference(detector: DetectorModule, reference: nn.Module, batch: int = 4) -> float:
    height, width = detector.image_size
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(batch, 3, height, width, generator=generator)
    expected = reference.forward_head(reference.forward_features(pixels)).reshape(-1)
    actual = detector(pixels)
    return float((expected - actual).abs().max())


class _LayerNormFp32(nn.Module):
    """Runs a LayerNorm in float32 inside an FP16 graph (FP16 LayerNorm is where ViT engines collapse)."""

    def __init__(self, layer_norm: nn.Module) -> None:
        super().__init__()
        self.inner = layer_norm.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.float()).to(x.dtype)


class Fp16Detector(nn.Module):
    """Strongly typed FP16 form of a `DetectorModule`: float32 in and out, FP16 inside.

    LayerNorms compute in float32 and the head runs in float32 on float32 features, so the ONNX graph
    states every precision explicitly (TensorRT 10.x/11.x strongly typed networks obey it).
    """

    def __init__(self, detector: DetectorModule) -> None:
        super().__init__()
        self.visual = copy.deepcopy(detector.visual).half()
        _replace_layer_norms(self.visual)
        self.head = copy.deepcopy(detector.head).float()
        prompts = detector.prompt_embeddings
        if prompts is not None:
            self.register_buffer("prompt_embeddings", prompts.detach().clone().float())
        else:
            self.prompt_embeddings = None

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.visual(pixel_values.half())
        if isinstance(features, tuple):
            features = features[0]
        return self.head(features.float(), self.prompt_embeddings).reshape(-1)


def _replace_layer_norms(module: nn.Module) -> None:
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.LayerNorm):
                setattr(parent, name, _LayerNormFp32(child))
