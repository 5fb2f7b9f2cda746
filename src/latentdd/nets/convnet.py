"""ConvNet: the workhorse of dataset distillation (DC/DSA/DM/MTT/GLaD all distill with it).

``depth`` blocks of [conv3x3(width) -> norm -> act -> pool], then one linear layer, as in
VICO-UoE/DatasetCondensation ``networks.ConvNet``.  Kept from the reference on purpose:
for 1-channel input the first conv pads by 3 instead of 1, so 28x28 MNIST becomes 32x32
(features 128x4x4 after three poolings), exactly as the published MNIST numbers were made.
Generalized: the classifier is sized from the actual image size (any H, W), not from a
lookup that assumes 28 or 32.
"""

from __future__ import annotations

import math

from torch import nn

from ..registry import Registry
from .base import HW, FeatureStackModel, check_spatial, conv_out, to_hw
from .norms import make_norm
from .registry import register_model, register_variant

ACTIVATIONS: Registry[nn.Module] = Registry("activation")
# ReLUs run in place in every zoo network, as in the published DC/DM/MTT networks: the activation is
# memory-bound, and a fresh output tensor per layer cost 23 % of an eager DM iteration (MNIST IPC 10,
# 256 real images per class: 9.8 -> 7.5 s per iteration on one thread, same losses).  Safe under
# autograd: the norms, convolutions and linear maps before them keep their inputs, not their outputs.
ACTIVATIONS.register("relu")(lambda: nn.ReLU(inplace=True))
ACTIVATIONS.register("leakyrelu")(lambda: nn.LeakyReLU(negative_slope=0.01, inplace=True))
ACTIVATIONS.register("sigmoid")(lambda: nn.Sigmoid())
ACTIVATIONS.register("gelu")(lambda: nn.GELU())
ACTIVATIONS.register("swish")(lambda: nn.SiLU())

# Each pooling is (module factory, halves the spatial size?).
POOLINGS: Registry[tuple[nn.Module, bool]] = Registry("pooling")
POOLINGS.register("avgpooling")(lambda: (nn.AvgPool2d(kernel_size=2, stride=2), True))
POOLINGS.register("maxpooling")(lambda: (nn.MaxPool2d(kernel_size=2, stride=2), True))
POOLINGS.register("none")(lambda: (nn.Identity(), False))


class ConvNet(FeatureStackModel):
    """``depth`` x [conv3x3 -> norm -> act -> pool] + linear; ``feature_dim = width*h*w``.

    Activations are not in-place (unlike the reference): hooks that read intermediate
    features (multi-layer feature matching) would otherwise see overwritten tensors.
    """

    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: HW | int,
        *,
        depth: int = 3,
        width: int = 128,
        norm: str = "instancenorm",
        act: str = "relu",
        pooling: str = "avgpooling",
    ) -> None:
        super().__init__()
        image_size = to_hw(image_size)  # also accept a plain int when built directly
        layers: list[nn.Module] = []
        hw = image_size
        in_ch = channels
        for d in range(depth):
            padding = 3 if channels == 1 and d == 0 else 1  # reference: 28 -> 32 for MNIST
            layers.append(nn.Conv2d(in_ch, width, kernel_size=3, padding=padding))
            hw = conv_out(hw, kernel=3, padding=padding)
            layers.append(make_norm(norm, (width, *hw)))
            layers.append(ACTIVATIONS.get(act)())
            pool, halves = POOLINGS.get(pooling)()
            layers.append(pool)
            if halves:
                hw = conv_out(hw, kernel=2, stride=2)
            in_ch = width
        check_spatial(hw, f"convnet (depth {depth})", image_size)
        self.build_head(layers, width, hw, num_classes)


def depth_for(image_size: HW) -> int:
    """The references' depth for a resolution: 3 up to 32 px (MNIST's 28 included), 4 at 64, 5 at 128
    (``int(log2(res)) - 2`` in the MTT/GLaD code, rounded here so 28 and 48 px land where they should)."""
    side = min(to_hw(image_size))
    return max(3, round(math.log2(side)) - 2)


def key_kwargs(model: str, image_size: HW, kwargs: dict | None) -> dict:
    """``kwargs`` plus the resolution's depth for a ConvNet that takes its default depth where that
    differs from the old fixed 3 (above 45 px), so cached results of the old depth are not reused."""
    out = dict(kwargs or {})
    name = model.lower()
    if name.startswith("convnet") and not name.startswith("convnetd") and "depth" not in out:
        depth = depth_for(image_size)
        if depth != 3:
            out["depth"] = depth
    return out


@register_model
def convnet(
    channels: int,
    num_classes: int,
    image_size: HW,
    *,
    depth: int | None = None,
    width: int = 128,
    norm: str = "instancenorm",
    act: str = "relu",
    pooling: str = "avgpooling",
) -> ConvNet:
    """ConvNet of width 128 with instance norm, ReLU and average pooling (the field's default); depth 3
    at 32 px and one more per doubling of resolution (:func:`depth_for`) unless ``depth`` is given."""
    depth = depth_for(image_size) if depth is None else int(depth)
    return ConvNet(
        channels, num_classes, image_size, depth=depth, width=width, norm=norm, act=act, pooling=pooling
    )


# The reference's named variants (utils.get_network), lower-cased.
_VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    **{f"convnetd{d}": (f"ConvNet of depth {d}", {"depth": d}) for d in range(1, 6)},
    **{f"convnetw{w}": (f"ConvNet of width {w}", {"width": w}) for w in (32, 64, 128, 256)},
    "convnetbn": ("ConvNet with batch norm", {"norm": "batchnorm"}),
    "convnetin": ("ConvNet with instance norm", {"norm": "instancenorm"}),
    "convnetln": ("ConvNet with layer norm over (C, H, W)", {"norm": "layernorm"}),
    "convnetgn": ("ConvNet with group norm (4 groups)", {"norm": "groupnorm"}),
    "convnetnn": ("ConvNet without normalization", {"norm": "none"}),
    "convnetas": ("ConvNet with sigmoid activations", {"act": "sigmoid"}),
    "convnetar": ("ConvNet with ReLU activations", {"act": "relu"}),
    "convnetal": ("ConvNet with leaky-ReLU activations", {"act": "leakyrelu"}),
    "convnetap": ("ConvNet with average pooling", {"pooling": "avgpooling"}),
    "convnetmp": ("ConvNet with max pooling", {"pooling": "maxpooling"}),
    "convnetnp": ("ConvNet without pooling", {"pooling": "none"}),
    **{
        f"convnetd{d}bn": (f"ConvNet of depth {d} with batch norm", {"depth": d, "norm": "batchnorm"})
        for d in range(1, 6)
    },
}

for _name, (_doc, _preset) in _VARIANTS.items():
    register_variant(_name, convnet, _doc, **_preset)
