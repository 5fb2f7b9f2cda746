"""Make any module that implements the prior interface usable as a :class:`Prior`.

Users' generators need not import latentdd or subclass :class:`Prior`: duck typing is enough.
:func:`as_prior` checks the interface once, up front, and names what is missing -- a clear
error at load time rather than an ``AttributeError`` in the middle of distillation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...errors import UserError
from ..base import Prior

#: attributes and methods a prior must have (see docs/priors.md)
REQUIRED = (
    "num_classes",
    "image_channels",
    "image_size",
    "num_layers",
    "layer_shape",
    "map_latent",
    "head",
    "tail",
)


def missing_members(module: nn.Module) -> list[str]:
    return [name for name in REQUIRED if not hasattr(module, name)]


class InterfacePrior(Prior):
    """Wraps a duck-typed generator; optional members fall back to the :class:`Prior` defaults."""

    arch = "module"

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.num_classes = int(inner.num_classes)
        self.image_channels = int(inner.image_channels)
        self.image_size = int(inner.image_size)
        self.latent_dim = int(getattr(inner, "latent_dim", 0))
        self.output_range = tuple(getattr(inner, "output_range", (-1.0, 1.0)))  # type: ignore[assignment]

    @property
    def num_layers(self) -> int:
        return int(self.inner.num_layers)

    def layer_shape(self, k: int) -> tuple[int, ...]:
        return tuple(self.inner.layer_shape(self.check_layer(k)))

    def sample_latents(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if hasattr(self.inner, "sample_latents"):
            return self.inner.sample_latents(labels, generator)
        if self.latent_dim <= 0:
            raise UserError("the prior module has neither sample_latents() nor a positive latent_dim")
        return super().sample_latents(labels, generator)

    def map_latent(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.inner.map_latent(z, labels)

    def head(self, w: torch.Tensor, k: int) -> torch.Tensor:
        return self.inner.head(w, self.check_layer(k))

    def tail(self, f: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
        return self.inner.tail(f, w, self.check_layer(k))

    @property
    def can_advance(self) -> bool:
        return callable(getattr(self.inner, "advance", None))

    def advance(self, f: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
        return self.inner.advance(f, w, self.check_layer(k))

    def start_features(self, w: torch.Tensor, k: int) -> torch.Tensor:
        if hasattr(self.inner, "start_features"):
            return self.inner.start_features(w, self.check_layer(k))
        return super().start_features(w, k)

    def config(self) -> dict[str, Any]:
        config = getattr(self.inner, "config", None)
        return dict(config()) if callable(config) else {}


def as_prior(module: nn.Module, where: str) -> Prior:
    """``module`` itself when it is a :class:`Prior`, else an :class:`InterfacePrior` around it."""
    if isinstance(module, Prior):
        return module
    missing = missing_members(module)
    if missing:
        raise UserError(
            f"{where} made a {type(module).__name__} that lacks {', '.join(missing)} of the prior interface; "
            "see docs/priors.md for what a prior must provide"
        )
    if int(module.num_layers) < 1:
        raise UserError(f"{where} reports num_layers={module.num_layers}; a prior needs at least one layer")
    return InterfacePrior(module)
