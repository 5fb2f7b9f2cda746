"""A small Vision Transformer for 28-64 px images (cross-architecture evaluation).

Not in the DC reference code; sized like the small ViTs that later distillation papers
evaluate on CIFAR: 4x4 patches, width 128, 6 pre-norm layers of 4 heads, a class token.
Built from torch's ``nn.TransformerEncoder``.  Two deliberate details:

* ``nn.TransformerEncoder`` deep-copies one layer, so every layer would start with the
  same weights; we re-initialize each layer (timm's ViT init: truncated normal 0.02 for
  linear maps, zero biases) so depth means something from the first step.
* Attention runs on the "math" SDPA backend: the fused kernels have no double backward
  (``derivative for ..._flash_attention_..._backward is not implemented``), and gradient
  matching (DC/DSA) and trajectory matching (MTT) differentiate through parameter gradients.

Images whose size is not a multiple of the patch are zero-padded on the bottom/right.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from .base import HW, ZooModel, to_hw
from .registry import register_model


class ViT(ZooModel):
    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: HW | int,
        *,
        patch_size: int = 4,
        dim: int = 128,
        depth: int = 6,
        heads: int = 4,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        image_size = to_hw(image_size)  # also accept a plain int when built directly
        self.patch_size = patch_size
        grid = (math.ceil(image_size[0] / patch_size), math.ceil(image_size[1] / patch_size))
        self.patch_embed = nn.Conv2d(channels, dim, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid[0] * grid[1] + 1, dim))
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            dim_feedforward=int(dim * mlp_ratio),
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.feature_dim = dim
        self.classifier = nn.Linear(dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.MultiheadAttention):
                nn.init.trunc_normal_(m.in_proj_weight, std=0.02)
                nn.init.zeros_(m.in_proj_bias)
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        pad_h, pad_w = (-x.shape[-2]) % p, (-x.shape[-1]) % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)  # [B, N, dim]
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + self.pos_embed
        with sdpa_kernel(SDPBackend.MATH):
            tokens = self.encoder(tokens)
        return tokens[:, 0]


@register_model
def vit(
    channels: int,
    num_classes: int,
    image_size: HW,
    *,
    patch_size: int = 4,
    dim: int = 128,
    depth: int = 6,
    heads: int = 4,
    mlp_ratio: float = 2.0,
) -> ViT:
    """Small ViT: patch 4, width 128, depth 6, 4 heads, class-token pooling."""
    return ViT(
        channels,
        num_classes,
        image_size,
        patch_size=patch_size,
        dim=dim,
        depth=depth,
        heads=heads,
        mlp_ratio=mlp_ratio,
    )
