"""The prior interface that :class:`~latentdd.synth.LatentSet` uses.

A prior is a frozen generator ``G`` split at a layer ``k`` (GLaD's "F-space"):

* ``map_latent(z, y) -> w``: latent noise and class to the code the synthesis layers use
  (identity-plus-class-embedding for a plain conditional generator, the mapping network
  for a StyleGAN).  ``w`` has shape ``B x num_ws x w_dim`` -- one entry per synthesis
  layer, so the tail can be steered per layer (StyleGAN's w+).
* ``head(w, k) -> f``: the feature map that enters synthesis layer ``k``.
* ``tail(f, w, k) -> image``: layers ``k ...`` applied to ``f``; images in ``output_range``.

``k = 0`` is the earliest split (the feature map right after the latent projection);
larger ``k`` gives more freedom and less of the prior's regularization.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from ..errors import UserError


class Prior(nn.Module, ABC):
    """Base class; subclasses set the attributes below and implement the four methods."""

    #: name of the architecture in the prior registry (for saving/loading)
    arch: str = "prior"
    num_classes: int
    image_channels: int
    image_size: int
    latent_dim: int
    output_range: tuple[float, float] = (-1.0, 1.0)

    @property
    @abstractmethod
    def num_layers(self) -> int:
        """Number of valid split points; ``k`` ranges over ``0 .. num_layers - 1``."""
        ...

    @abstractmethod
    def layer_shape(self, k: int) -> tuple[int, ...]:
        """Shape (without batch) of the feature map that enters layer ``k``."""
        ...

    def sample_latents(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Initial latent noise ``z`` for images of the given classes."""
        return torch.randn(labels.shape[0], self.latent_dim, generator=generator).to(labels.device)

    @abstractmethod
    def map_latent(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def head(self, w: torch.Tensor, k: int) -> torch.Tensor: ...

    @abstractmethod
    def tail(self, f: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor: ...

    def start_features(self, w: torch.Tensor, k: int) -> torch.Tensor:
        """The feature map a sampled start optimizes from (``head``; a prior may sanitize it, as GLaD
        clips StyleGAN-XL's)."""
        return self.head(w, k)

    def advance(self, f: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
        """Layer ``k``'s feature map carried through layer ``k`` to the one entering ``k + 1``:
        ``tail(advance(f, w, k), w, k + 1) == tail(f, w, k)``.  Needed only by ``--walk-to``
        (H-PD's walk through the layers); a prior without it refuses that option."""
        raise self._cannot_walk()

    @property
    def can_advance(self) -> bool:
        return type(self).advance is not Prior.advance

    def require_advance(self) -> None:
        """Refuse ``--walk-to`` up front, before any iteration, for a prior that cannot walk."""
        if not self.can_advance:
            raise self._cannot_walk()

    def _cannot_walk(self) -> UserError:
        return UserError(
            f"prior {self.arch!r} cannot carry feature maps from one layer to the next, which --walk-to "
            "needs; use a fixed --layer (the autoencoder and conditional GAN priors can walk)"
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        w = self.map_latent(z, labels)
        return self.tail(self.head(w, 0), w, 0)

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Constructor arguments: enough to rebuild the architecture from a prior file."""
        ...

    def check_layer(self, k: int) -> int:
        if not 0 <= k < self.num_layers:
            raise UserError(
                f"layer {k} does not exist in prior {self.arch!r}; choose --layer between 0 and "
                f"{self.num_layers - 1}"
            )
        return k
