"""GLaD: each image is ``G_tail(f, w)`` for a frozen generator split at layer ``k``.

The learnable tensors are the feature map ``f`` entering layer ``k`` and the per-image
latent code ``w`` that conditions the later layers (StyleGAN's w+).  Both start from
class-conditional samples of the prior, so the set starts on the generator's manifold.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..priors.base import Prior
from .base import SyntheticSet


class LatentSet(SyntheticSet):
    space = "latent"

    def __init__(
        self,
        prior: Prior,
        layer: int,
        labels: torch.Tensor,
        num_classes: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        generator: torch.Generator,
        chunk: int = 64,
    ) -> None:
        super().__init__(labels, num_classes)
        self.prior = prior.eval().requires_grad_(False)
        self.layer = prior.check_layer(layer)
        self.chunk = max(1, int(chunk))
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        with torch.no_grad():
            z = prior.sample_latents(self.labels.cpu(), generator).to(self.labels.device)
            w = prior.map_latent(z, self.labels)
            f = prior.head(w, self.layer)
        self.w = nn.Parameter(w.detach().clone())
        self.f = nn.Parameter(f.detach().clone())

    def _render(self, f: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        lo, hi = self.prior.output_range
        x01 = (self.prior.tail(f, w, self.layer) - lo) / (hi - lo)
        return (x01 - self.mean) / self.std

    def _chunks(self) -> list[slice]:
        n = self.labels.shape[0]
        return [slice(i, min(i + self.chunk, n)) for i in range(0, n, self.chunk)]

    def decode(self) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([self._render(self.f[s], self.w[s]) for s in self._chunks()])

    def backward(self, grad_images: torch.Tensor) -> None:
        # Re-render each chunk with a graph and push the pixel gradient through the
        # generator; only one chunk's activations are alive at a time.
        for s in self._chunks():
            self._render(self.f[s], self.w[s]).backward(grad_images[s])

    def param_groups(self, cfg: Any) -> list[dict[str, Any]]:
        return [
            {"params": [self.f], "lr": cfg.lr_feat, "name": "feature_map"},
            {"params": [self.w], "lr": cfg.lr_latent, "name": "latent"},
        ]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"latent_f": self.f.detach(), "latent_w": self.w.detach()}
