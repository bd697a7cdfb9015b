"""LoRA on the packed q/k/v projection of `nn.MultiheadAttention` (open_clip's ViT attention).

open_clip's `ResidualAttentionBlock` uses `nn.MultiheadAttention`, whose `in_proj_weight` packs
q, k and v into one `[3d, d]` matrix. peft (0.21) can wrap a whole `MultiheadAttention`, but only
with one adapter over the packed matrix plus `out_proj`, and it merges by swapping parameters in
and out; it cannot put separate rank-r adapters on q, k and v with dropout on their input. So this
module does it directly: `LoRAMultiheadAttention` is an `nn.MultiheadAttention` subclass (same
state-dict keys as the original, plus `lora_A_*`/`lora_B_*`) whose forward adds
`(alpha / r) * B @ A @ dropout(x)` to the selected projections (Hu et al., 2021, arXiv 2106.09685).
`merge_lora` folds the update into `in_proj_weight` and swaps back a plain `nn.MultiheadAttention`,
so the merged tower has exactly open_clip's modules and exports to ONNX like the original.
"""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from pinclip_sdk.errors import ConfigError
from pinclip_sdk.training.config import LoRAConfig

logger = logging.getLogger(__name__)

_SLOTS = {"q": 0, "k": 1, "v": 2}


class LoRAMultiheadAttention(nn.MultiheadAttention):
    """Self-attention with low-rank adapters on q/k/v; a drop-in for open_clip's blocks."""

    def __init__(self, base: nn.MultiheadAttention, cfg: LoRAConfig) -> None:
        if base.bias_k is not None or base.add_zero_attn or not base._qkv_same_embed_dim:
            raise ConfigError("LoRA supports nn.MultiheadAttention without bias_k/add_zero_attn/kdim/vdim")
        super().__init__(
            base.embed_dim,
            base.num_heads,
            dropout=base.dropout,
            bias=base.in_proj_bias is not None,
            batch_first=base.batch_first,
            device=base.in_proj_weight.device,
            dtype=base.in_proj_weight.dtype,
        )
        self.load_state_dict(base.state_dict())
        self.targets = tuple(cfg.targets)
        self.rank = cfg.rank
        self.scaling = cfg.alpha / cfg.rank
        self.lora_dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        d = base.embed_dim
        factory = {"device": base.in_proj_weight.device, "dtype": base.in_proj_weight.dtype}
        for t in self.targets:
            a = nn.Parameter(torch.empty(cfg.rank, d, **factory))
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))  # as in the LoRA reference code; B = 0 => no-op
            self.register_parameter(f"lora_A_{t}", a)
            self.register_parameter(f"lora_B_{t}", nn.Parameter(torch.zeros(d, cfg.rank, **factory)))

    def delta_weight(self) -> torch.Tensor:
        """The `[3d, d]` update the adapters add to `in_proj_weight`."""
        d = self.embed_dim
        delta = self.in_proj_weight.new_zeros(3 * d, d)
        for t in self.targets:
            slot = _SLOTS[t]
            b, a = getattr(self, f"lora_B_{t}"), getattr(self, f"lora_A_{t}")
            delta[slot * d : (slot + 1) * d] = (b @ a) * self.scaling
        return delta

    def forward(  # type: ignore[override]
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, None]:
        if key is not query or value is not query or key_padding_mask is not None or need_weights:
            raise ConfigError("LoRAMultiheadAttention supports self-attention without padding masks/weights")
        x = query if self.batch_first else query.transpose(0, 1)
        n, length, d = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        x_drop = self.lora_dropout(x)
        parts = list(qkv.split(d, dim=-1))
        for t in self.targets:
            a, b = getattr(self, f"lora_A_{t}"), getattr(self, f"lora_B_{t}")
            parts[_SLOTS[t]] = parts[_SLOTS[t]] + F.linear(F.linear(x_drop, a), b) * self.scaling
        h = self.num_heads
        q, k, v = (p.reshape(n, length, h, d // h).transpose(1, 2) for p in parts)
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            attn_mask = torch.zeros_like(attn_mask, dtype=q.dtype).masked_fill_(attn_mask, float("-inf"))
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attn_mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=is_causal,
        )
        out = self.out_proj(out.transpose(1, 2).reshape(n, length, d))
        return (out if self.batch_first else out.transpose(0, 1)), None

    def merged(self) -> nn.MultiheadAttention:
        """A plain `nn.MultiheadAttention` with the adapters folded into `in_proj_weight`."""
        plain = nn.MultiheadAttention(
            self.embed_dim,
            self.num_heads,
            dropout=self.dropout,
            bias=self.in_proj_bias is not None,
            batch_first=self.batch_first,
            device=self.in_proj_weight.device,
            dtype=self.in_proj_weight.dtype,
        )
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("lora_")}
        with torch.no_grad():
            state["in_proj_weight"] = self.in_proj_weight + self.delta_weight()
        plain.load_state_dict(state)
        plain.train(self.training)
        return plain


def _resblocks(visual: nn.Module) -> nn.ModuleList:
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if not isinstance(blocks, nn.ModuleList):
        raise ConfigError(
            f"LoRA needs an open_clip VisionTransformer tower; got {type(visual).__name__} "
            "(use model.finetune = full or frozen for this backbone)"
        )
    return blocks


def apply_lora(visual: nn.Module, cfg: LoRAConfig) -> list[int]:
    """Replace the attention of the selected blocks with `LoRAMultiheadAttention`; returns the indices."""
    blocks = _resblocks(visual)
    n = len(blocks)
    wanted = range(n) if cfg.layers is None else cfg.layers
    indices = []
    for i in wanted:
        if not -n <= i < n:
            raise ConfigError(f"model.lora.layers: block {i} does not exist (the tower has {n} blocks)")
        indices.append(i % n)
    for i in sorted(set(indices)):
        attn = blocks[i].attn
        if not isinstance(attn, nn.MultiheadAttention):
            raise ConfigError(
                f"LoRA: block {i} attention is {type(attn).__name__}, not nn.MultiheadAttention"
            )
        if not isinstance(attn, LoRAMultiheadAttention):
            blocks[i].attn = LoRAMultiheadAttention(attn, cfg)
    logger.debug("LoRA rank %d on %s of %d blocks", cfg.rank, "/".join(cfg.targets), len(set(indices)))
    return sorted(set(indices))


def merge_lora(visual: nn.Module) -> int:
    """Fold every adapter into plain weights in place; returns how many blocks were merged."""
    count = 0
    for block in _resblocks(visual):
        if isinstance(block.attn, LoRAMultiheadAttention):
            block.attn = block.attn.merged()
            count += 1
    return count


def has_lora(module: nn.Module) -> bool:
    """Whether any `LoRAMultiheadAttention` is left in `module`."""
    return any(isinstance(m, LoRAMultiheadAttention) for m in module.modules())
