"""GLaD: each image is ``G_tail(f, w)`` for a frozen generator split at layer ``k``.

The learnable tensors are the feature map ``f`` entering layer ``k`` and the per-image
latent code ``w`` that conditions the later layers (StyleGAN's w+).  They start either from
real images -- encoded by a prior that has an encoder (an autoencoder), or found by inverting
the generator (:mod:`latentdd.priors.inversion`) -- or from class-conditional samples of the
prior (GLaD's start).  Either way the set starts on the generator's manifold.

``feat_radius`` keeps it there: after every step each image's feature map is projected back into
a ball around its start of radius ``feat_radius`` times the start's norm (0: no bound).  Left
alone, DM's step drove the CPU-trained GAN's layer-0 features to twice their sampled norm, where
the generator draws saturated blobs.

``advance_layer`` moves a set one layer deeper mid-run (``--walk-to``, H-PD's walk: the early
layers' strong prior shapes the images first, the later layers' freedom refines them).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import UserError
from ..priors.base import Prior
from ..priors.inversion import invert
from ..seeding import draw_seed
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
        init_images: torch.Tensor | None = None,
        learn_prior: bool = False,
        feat_radius: float = 0.0,
        invert_steps: int = 200,
        invert_lr: float = 0.05,
    ) -> None:
        super().__init__(labels, num_classes)
        # eval() always: batch-norm priors use their fixed statistics, so an image never depends
        # on the rest of its chunk -- also while fine-tuning the weights (--learn-prior).
        self.prior = prior.eval().requires_grad_(learn_prior)
        self.learn_prior = learn_prior
        self.layer = prior.check_layer(layer)
        self.chunk = max(1, int(chunk))
        device = labels.device  # where the prior and labels live (the set is not moved after this)
        self.register_buffer("mean", torch.tensor(mean, device=device).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, device=device).view(1, -1, 1, 1))
        self.feat_radius = float(feat_radius)
        self.invert_steps, self.invert_lr = int(invert_steps), float(invert_lr)
        w, f = self._initial_codes(init_images, generator)
        self.w = nn.Parameter(w.detach().clone())
        self.f = nn.Parameter(f.detach().clone())
        self.register_buffer("f_start", f.detach().clone())

    def _initial_codes(self, init_images: torch.Tensor | None, generator: torch.Generator):
        """``(w, f)`` to start from: with ``init_images``, the prior's encoding of them when it has
        an encoder (an autoencoder's ``init_from_images``), else their inversion; without, class-
        conditional samples of the prior."""
        if init_images is not None:
            lo, hi = self.prior.output_range
            x = (init_images.to(self.mean.device) * self.std + self.mean) * (hi - lo) + lo
            encode = getattr(self.prior, "init_from_images", None)
            if callable(encode):
                with torch.no_grad():
                    return encode(x, self.labels, self.layer)
            return invert(
                self.prior,
                x,
                self.labels,
                self.layer,
                steps=self.invert_steps,
                lr=self.invert_lr,
                seed=draw_seed(generator),
                chunk=self.chunk,
            )
        with torch.no_grad():
            z = self.prior.sample_latents(self.labels.cpu(), generator).to(self.labels.device)
            w = self.prior.map_latent(z, self.labels)
            return w, self.prior.start_features(w, self.layer)

    @torch.no_grad()
    def after_step(self) -> None:
        """Project each image's feature map into its ball around the start (``feat_radius``)."""
        if self.feat_radius <= 0:
            return
        delta = self.f - self.f_start
        shape = (-1,) + (1,) * (delta.dim() - 1)
        limit = self.feat_radius * self.f_start.flatten(1).norm(dim=1).view(shape)
        scale = (limit / delta.flatten(1).norm(dim=1).view(shape).clamp_min(1e-12)).clamp(max=1.0)
        self.f.copy_(self.f_start + delta * scale)

    @torch.no_grad()
    def advance_layer(self) -> None:
        """Carry the set one layer deeper (``--walk-to``, H-PD's walk): the feature map and its start
        go through layer ``k``, so the images are unchanged and the next steps move layer ``k + 1``'s
        feature map, which has more freedom.  ``f`` becomes a new parameter: rebind the optimizer."""
        k = self.layer
        if k + 1 >= self.prior.num_layers:
            raise UserError(f"the set is at the prior's last layer ({k}); it cannot walk further")
        advance = self.prior.advance
        self.f = nn.Parameter(torch.cat([advance(self.f[s], self.w[s], k) for s in self._chunks()]))
        self.f_start = torch.cat([advance(self.f_start[s], self.w[s], k) for s in self._chunks()])
        self.layer = k + 1

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
        groups = [
            {"params": [self.f], "lr": cfg.lr_feat, "name": "feature_map"},
            {"params": [self.w], "lr": cfg.lr_latent, "name": "latent"},
        ]
        if self.learn_prior:  # GLaD's generator fine-tuning, at its own rate
            groups.append({"params": list(self.prior.parameters()), "lr": cfg.lr_prior, "name": "prior"})
        return groups

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"latent_f": self.f.detach(), "latent_w": self.w.detach()}
        if self.learn_prior:  # the images depend on the fine-tuned weights: keep them with the set
            out.update({f"prior.{k}": v.detach() for k, v in self.prior.state_dict().items()})
        return out
