"""One normalization factory for the whole zoo, selected by name.

The reference code repeats an if-chain over norm names in every network; here each
name is one registered factory ``(shape) -> nn.Module`` where ``shape`` is the
``(C, H, W)`` of the activation it normalizes (``layernorm`` needs H and W, as in the
reference ConvNet, which normalizes over C, H and W with a per-element affine).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..errors import UserError
from ..registry import Registry

Shape = tuple[int, int, int]

NORMS: Registry[nn.Module] = Registry("normalization")

GROUPNORM_GROUPS = 4  # the reference's "groupnorm" is GroupNorm(4, C)


@NORMS.register("instancenorm")
def _instancenorm(shape: Shape) -> nn.Module:
    # The field's default: instance norm written as GroupNorm(C, C) so it has an affine
    # per channel and keeps no running statistics (train and eval behave the same).
    return nn.GroupNorm(shape[0], shape[0], affine=True)


@NORMS.register("batchnorm")
def _batchnorm(shape: Shape) -> nn.Module:
    return nn.BatchNorm2d(shape[0], affine=True)


@NORMS.register("layernorm")
def _layernorm(shape: Shape) -> nn.Module:
    return nn.LayerNorm(list(shape), elementwise_affine=True)


@NORMS.register("groupnorm")
def _groupnorm(shape: Shape) -> nn.Module:
    if shape[0] % GROUPNORM_GROUPS:
        raise UserError(
            f"groupnorm uses {GROUPNORM_GROUPS} groups, so the width must be a multiple of "
            f"{GROUPNORM_GROUPS} (got {shape[0]}); change the width or use norm='instancenorm'"
        )
    return nn.GroupNorm(GROUPNORM_GROUPS, shape[0], affine=True)


@NORMS.register("none")
def _no_norm(shape: Shape) -> nn.Module:
    return nn.Identity()


def make_norm(name: str, shape: Shape) -> nn.Module:
    """The normalization layer ``name`` for an activation of shape ``(C, H, W)``."""
    factory: Callable[[Shape], nn.Module] = NORMS.get(name)
    return factory(tuple(int(s) for s in shape))  # type: ignore[arg-type]


def norm_names() -> list[str]:
    return NORMS.names()
