"""LeNet-5, as in DatasetCondensation ``networks.LeNet``: conv5(6) -> pool -> conv5(16) ->
pool -> 120 -> 84 -> classes.  Kept: padding 2 on the first conv for 1-channel input (so
28x28 and 32x32 RGB both reach 16x5x5).  ``embed`` returns the 84-d penultimate layer."""

from __future__ import annotations

import torch
from torch import nn

from .base import HW, ZooModel, check_spatial, conv_out, to_hw
from .registry import register_model


class LeNet(ZooModel):
    def __init__(self, channels: int, num_classes: int, image_size: HW | int) -> None:
        super().__init__()
        image_size = to_hw(image_size)  # also accept a plain int when built directly
        padding = 2 if channels == 1 else 0
        hw = conv_out(image_size, kernel=5, padding=padding)
        hw = conv_out(hw, kernel=2, stride=2)
        hw = conv_out(hw, kernel=5)
        hw = conv_out(hw, kernel=2, stride=2)
        check_spatial(hw, "lenet", image_size)
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, kernel_size=5, padding=padding),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(16 * hw[0] * hw[1], 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
        )
        self.feature_dim = 84
        self.classifier = nn.Linear(84, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@register_model
def lenet(channels: int, num_classes: int, image_size: HW) -> LeNet:
    """LeNet-5 for 28-32 px images."""
    return LeNet(channels, num_classes, image_size)
