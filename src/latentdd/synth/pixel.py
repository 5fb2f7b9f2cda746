"""Classic dataset distillation: the pixels themselves are learned."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import SyntheticSet


class PixelSet(SyntheticSet):
    space = "pixel"

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
        super().__init__(labels, num_classes)
        self.images = nn.Parameter(images.detach().clone())

    def decode(self) -> torch.Tensor:
        return self.images.detach()

    def backward(self, grad_images: torch.Tensor) -> None:
        if self.images.grad is None:
            self.images.grad = grad_images.detach().clone()
        else:
            self.images.grad.add_(grad_images)

    def param_groups(self, cfg: Any) -> list[dict[str, Any]]:
        return [{"params": [self.images], "lr": cfg.lr_img, "name": "images"}]
