"""What every network of the zoo shares: ``embed`` (features) + ``classifier`` (logits).

DM matches ``embed`` features, DC/DSA/MTT differentiate the logits, evaluation trains on the
logits; one base class makes the split explicit so objectives never special-case a family.
It also holds the small shape arithmetic the families use to size their classifier from
the image size (instead of hard-coding 32x32 like the reference code).
"""

from __future__ import annotations

import abc

import torch
from torch import nn

from ..errors import UserError

HW = tuple[int, int]


class ZooModel(nn.Module, abc.ABC):
    """A classifier split into ``embed(x) -> [B, feature_dim]`` and ``classifier``."""

    feature_dim: int
    classifier: nn.Module

    @abc.abstractmethod
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features before the final linear layer, flattened to ``[B, feature_dim]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


class FeatureStackModel(ZooModel):
    """A plain stack of feature layers, flattened, then one linear classifier (ConvNet, AlexNet, VGG)."""

    def build_head(self, layers: list[nn.Module], channels: int, hw: HW, num_classes: int) -> None:
        """Install ``features``/``flatten``/``classifier`` for a stack ending in ``channels x hw``."""
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.feature_shape = (channels, *hw)
        self.feature_dim = channels * hw[0] * hw[1]
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.features(x))


def to_hw(image_size: int | tuple[int, int] | list[int]) -> HW:
    """Normalize ``32`` or ``(32, 32)`` to ``(h, w)``, rejecting nonsense with a UserError."""
    if isinstance(image_size, int):
        hw = (image_size, image_size)
    else:
        hw = tuple(int(s) for s in image_size)
        if len(hw) != 2:
            raise UserError(f"image_size must be an int or (height, width), got {image_size!r}")
    if min(hw) < 1:
        raise UserError(f"image_size must be positive, got {image_size!r}")
    return hw  # type: ignore[return-value]


def conv_out(hw: HW, kernel: int, stride: int = 1, padding: int = 0) -> HW:
    """Spatial size after a square conv / pooling window (floor mode, as PyTorch)."""
    return tuple((s + 2 * padding - kernel) // stride + 1 for s in hw)  # type: ignore[return-value]


def ceil_half(hw: HW) -> HW:
    """Spatial size after a 2x2/stride-2 pooling with ``ceil_mode=True``."""
    return tuple(-(-s // 2) for s in hw)  # type: ignore[return-value]


def check_spatial(hw: HW, model: str, image_size: HW) -> None:
    """Fail early (at construction, not mid-training) when downsampling eats the whole image."""
    if min(hw) < 1:
        raise UserError(
            f"{model} downsamples a {image_size[0]}x{image_size[1]} image to nothing; "
            "use larger images or a shallower network (e.g. convnetd3 instead of convnetd5)"
        )
