"""MLP baseline, as in DatasetCondensation ``networks.MLP``: flatten -> 128 -> 128 -> classes
with ReLU.  The input size is channels x H x W of the actual images (the reference
hard-codes 28x28x1 or 32x32x3)."""

from __future__ import annotations

import torch
from torch import nn

from .base import HW, ZooModel, to_hw
from .registry import register_model


class MLP(ZooModel):
    def __init__(self, channels: int, num_classes: int, image_size: HW | int, *, width: int = 128) -> None:
        super().__init__()
        image_size = to_hw(image_size)  # also accept a plain int when built directly
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * image_size[0] * image_size[1], width),
            nn.ReLU(inplace=True),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
        )
        self.feature_dim = width
        self.classifier = nn.Linear(width, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register_model
def mlp(channels: int, num_classes: int, image_size: HW, *, width: int = 128) -> MLP:
    """3-layer MLP of width 128."""
    return MLP(channels, num_classes, image_size, width=width)
