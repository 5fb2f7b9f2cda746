"""ResNet18 for small images, as in DatasetCondensation ``networks.ResNet`` / ``ResNet_AP``.

CIFAR-style: a 3x3 stride-1 stem and no max-pool, four stages of two BasicBlocks
(64-128-256-512), instance norm by default.  Two downsampling flavours, both from the
reference:

* ``resnet18``: stride-2 convs, then ``avg_pool2d(4)`` -> 512 features at 32 px
  (512 x 2 x 2 at 64 px, as the reference gives).  The pooling window shrinks to the
  feature map when that is smaller than 4, where the reference would crash.
* ``resnet18_ap``: each stride-2 conv is replaced by a stride-1 conv + 2x2 average pooling
  (also in the shortcut), and there is no global pooling: 512 x 4 x 4 features at 32 px,
  512 x 3 x 3 at 28 px, as in the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import HW, ZooModel, check_spatial, conv_out, to_hw
from .norms import make_norm
from .registry import register_model, register_variant

_STAGES: tuple[tuple[int, int], ...] = ((64, 1), (128, 2), (256, 2), (512, 2))  # (planes, stride)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual; downsamples by a stride-2 conv (or by average
    pooling when ``avgpool_down``, the reference's ``BasicBlock_AP``)."""

    def __init__(
        self, in_planes: int, planes: int, stride: int, norm: str, hw: HW, avgpool_down: bool
    ) -> None:
        super().__init__()
        conv_stride = 1 if avgpool_down else stride
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=conv_stride, padding=1, bias=False)
        hw1 = conv_out(hw, kernel=3, stride=conv_stride, padding=1)
        self.bn1 = make_norm(norm, (planes, *hw1))
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2) if avgpool_down and stride != 1 else nn.Identity()
        hw2 = conv_out(hw1, kernel=2, stride=2) if isinstance(self.pool, nn.AvgPool2d) else hw1
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = make_norm(norm, (planes, *hw2))
        self.shortcut: nn.Module = nn.Sequential()
        if stride != 1 or in_planes != planes:
            down: list[nn.Module] = [
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=conv_stride, bias=False)
            ]
            if avgpool_down and stride != 1:
                down.append(nn.AvgPool2d(kernel_size=2, stride=2))
            down.append(make_norm(norm, (planes, *hw2)))
            self.shortcut = nn.Sequential(*down)
        self.out_hw = hw2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(self.pool(out)))
        return F.relu(out + self.shortcut(x), inplace=True)


class ResNet(ZooModel):
    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: HW | int,
        *,
        blocks: tuple[int, int, int, int] = (2, 2, 2, 2),
        norm: str = "instancenorm",
        avgpool_down: bool = False,
    ) -> None:
        super().__init__()
        image_size = to_hw(image_size)  # also accept a plain int when built directly
        hw = image_size
        self.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = make_norm(norm, (64, *hw))
        in_planes = 64
        stages: list[nn.Module] = []
        for (planes, stride), n in zip(_STAGES, blocks, strict=True):
            layer: list[BasicBlock] = []
            for s in [stride] + [1] * (n - 1):
                check_spatial(hw, "resnet", image_size)
                block = BasicBlock(in_planes, planes, s, norm, hw, avgpool_down)
                layer.append(block)
                hw, in_planes = block.out_hw, planes
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        check_spatial(hw, "resnet", image_size)
        if avgpool_down:
            self.pool: nn.Module = nn.Identity()  # reference: avg_pool2d(kernel_size=1) == identity
        else:
            kernel = (min(4, hw[0]), min(4, hw[1]))
            self.pool = nn.AvgPool2d(kernel_size=kernel)
            hw = ((hw[0] - kernel[0]) // kernel[0] + 1, (hw[1] - kernel[1]) // kernel[1] + 1)
        self.flatten = nn.Flatten()
        self.feature_dim = in_planes * hw[0] * hw[1]
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.flatten(self.pool(out))


@register_model
def resnet18(channels: int, num_classes: int, image_size: HW, *, norm: str = "instancenorm") -> ResNet:
    """DC's ResNet18: 3x3 stem, no max-pool, instance norm, stride-2 downsampling."""
    return ResNet(channels, num_classes, image_size, norm=norm, avgpool_down=False)


@register_model
def resnet18_ap(channels: int, num_classes: int, image_size: HW, *, norm: str = "instancenorm") -> ResNet:
    """DC's ResNet18_AP: downsampling by average pooling instead of strided convs."""
    return ResNet(channels, num_classes, image_size, norm=norm, avgpool_down=True)


register_variant("resnet18bn", resnet18, "ResNet18 with batch norm", norm="batchnorm")
register_variant("resnet18bn_ap", resnet18_ap, "ResNet18_AP with batch norm", norm="batchnorm")
