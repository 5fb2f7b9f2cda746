"""The synthetic set: what the optimizer moves, and how it becomes pixels.

Objectives only ever see pixels.  The engine asks the set to ``decode()`` its images
(no autograd graph), computes the objective's gradient with respect to those pixels,
and hands it back through ``backward(grad)``.  For a :class:`PixelSet` that is a copy;
for a :class:`LatentSet` it re-runs the generator chunk by chunk with a graph and
back-propagates each chunk, so memory does not grow with the number of images -- and
objectives stay unaware of how images are parameterized (GLaD's plug-and-play claim).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn


class SyntheticSet(nn.Module, ABC):
    space: str = "base"

    def __init__(self, labels: torch.Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("labels", labels.clone().long())
        self.num_classes = num_classes

    @abstractmethod
    def decode(self) -> torch.Tensor:
        """All images (normalized pixel space), without an autograd graph."""
        ...

    @abstractmethod
    def backward(self, grad_images: torch.Tensor) -> None:
        """Accumulate d(loss)/d(learnables) given d(loss)/d(images)."""
        ...

    @abstractmethod
    def param_groups(self, cfg: Any) -> list[dict[str, Any]]:
        """Optimizer parameter groups, each with the learning rate of the published setting."""
        ...

    def after_step(self) -> None:
        """Called after every optimizer step (a set may project its tensors back into bounds)."""

    def tensors(self) -> dict[str, torch.Tensor]:
        """Everything to save beside the images (learnable tensors)."""
        return {name: p.detach() for name, p in self.named_parameters()}
