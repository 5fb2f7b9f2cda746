"""VGG11 for small images, as in DatasetCondensation ``networks.VGG`` (``VGG11``/``VGG11BN``).

conv3x3 -> norm -> ReLU blocks with five 2x2 max-pools and a single linear layer.  Kept
from the reference: instance norm by default, padding 3 on the first conv for 1-channel
input (28 -> 32).  Changed: the pools use ``ceil_mode=True`` so that sizes that are not a
multiple of 32 (e.g. 28x28 RGB) do not shrink to nothing; for 32/64/128 px inputs this is
identical to the reference.  The reference's final ``AvgPool2d(1, 1)`` is an identity and
is left out.
"""

from __future__ import annotations

from torch import nn

from .base import HW, FeatureStackModel, ceil_half, check_spatial, conv_out, to_hw
from .norms import make_norm
from .registry import register_model, register_variant

CFG_VGG: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
}


class VGG(FeatureStackModel):
    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: HW | int,
        *,
        cfg: tuple[int | str, ...] = CFG_VGG["vgg11"],
        norm: str = "instancenorm",
    ) -> None:
        super().__init__()
        image_size = to_hw(image_size)  # also accept a plain int when built directly
        layers: list[nn.Module] = []
        hw = image_size
        in_ch = channels
        for i, item in enumerate(cfg):
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
                hw = ceil_half(hw)
                continue
            out_ch = int(item)
            padding = 3 if channels == 1 and i == 0 else 1
            layers.append(nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=padding))
            hw = conv_out(hw, kernel=3, padding=padding)
            layers += [make_norm(norm, (out_ch, *hw)), nn.ReLU(inplace=True)]
            in_ch = out_ch
        check_spatial(hw, "vgg", image_size)
        self.build_head(layers, in_ch, hw, num_classes)


@register_model
def vgg11(channels: int, num_classes: int, image_size: HW, *, norm: str = "instancenorm") -> VGG:
    """DC's VGG11 (instance norm by default; 512 features at 32 px)."""
    return VGG(channels, num_classes, image_size, cfg=CFG_VGG["vgg11"], norm=norm)


register_variant("vgg11bn", vgg11, "VGG11 with batch norm", norm="batchnorm")
