"""AlexNet for small images, as in DatasetCondensation ``networks.AlexNet`` / ``AlexNetBN``.

Five convs (128-192-256-192-192) and three 2x2 max-pools, one linear layer.  Reference
details kept: 1-channel input gets padding 4 on the 5x5 stem (28 -> 32), so MNIST and
CIFAR both end at 192x4x4; the DC ``AlexNet`` has no normalization (``norm="none"``) and
``AlexNetBN`` adds batch norm after every conv.  The classifier is sized from the image.
"""

from __future__ import annotations

from torch import nn

from .base import HW, FeatureStackModel, check_spatial, conv_out, to_hw
from .norms import make_norm
from .registry import register_model, register_variant

# (out_channels, kernel, pool after?)
_LAYERS: tuple[tuple[int, int, bool], ...] = (
    (128, 5, True),
    (192, 5, True),
    (256, 3, False),
    (192, 3, False),
    (192, 3, True),
)


class AlexNet(FeatureStackModel):
    def __init__(self, channels: int, num_classes: int, image_size: HW | int, *, norm: str = "none") -> None:
        super().__init__()
        image_size = to_hw(image_size)  # also accept a plain int when built directly
        layers: list[nn.Module] = []
        hw = image_size
        in_ch = channels
        for i, (out_ch, kernel, pool) in enumerate(_LAYERS):
            padding = kernel // 2
            if i == 0 and channels == 1:
                padding = 4  # reference: 28x28 grayscale -> 32x32
            layers.append(nn.Conv2d(in_ch, out_ch, kernel_size=kernel, stride=1, padding=padding))
            hw = conv_out(hw, kernel=kernel, padding=padding)
            layers.append(make_norm(norm, (out_ch, *hw)))
            layers.append(nn.ReLU(inplace=True))
            if pool:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                hw = conv_out(hw, kernel=2, stride=2)
            in_ch = out_ch
        check_spatial(hw, "alexnet", image_size)
        self.build_head(layers, in_ch, hw, num_classes)


@register_model
def alexnet(channels: int, num_classes: int, image_size: HW, *, norm: str = "none") -> AlexNet:
    """DC's AlexNet for 28-32 px images (no normalization)."""
    return AlexNet(channels, num_classes, image_size, norm=norm)


register_variant("alexnetbn", alexnet, "AlexNet with batch norm after every conv", norm="batchnorm")
