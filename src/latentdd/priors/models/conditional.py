"""The built-in class-conditional generator (``cgen``).

A small BigGAN/StyleGAN-flavoured generator that is cheap enough to train on a laptop CPU:

* mapping: ``w = MLP(concat(z, embed(y)))``, broadcast to one entry per synthesis stage (w+), so
  GLaD-style optimization can steer each stage separately;
* synthesis: ``w[:, 0]`` -> linear -> ``C x 4 x 4``; then one stage per doubling of resolution
  (nearest upsample, 3x3 conv, conditional batch norm whose scale/shift come from that stage's
  ``w`` entry, LeakyReLU); a 3x3 conv and ``tanh`` make the image.  Sizes that are not a power of
  two (MNIST's 28 px) are made at the next power of two and resized with antialiased bilinear
  interpolation.

Why batch norm: with per-sample normalization (AdaIN, but without StyleGAN's noise inputs and
long training) our MNIST runs on a CPU budget collapsed to a single image for all classes;
batch statistics keep the samples of a batch apart, as in DCGAN/BigGAN.  In ``eval()`` -- how every prior is used once trained -- the norm is a
fixed per-channel affine map, so an image never depends on the rest of its batch; the trainer
calls :meth:`ConditionalGenerator.calibrate` ("standing statistics", as in BigGAN) so those
fixed statistics match the final weights.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Prior
from ..registry import PRIORS


class ModulatedStage(nn.Module):
    """Upsample x2 -> conv3x3 -> batch norm modulated by ``w`` (FiLM) -> LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels, affine=False)
        self.affine = nn.Linear(w_dim, 2 * out_channels)
        # Start near the identity modulation (scale ~1, shift ~0): early training then behaves like
        # a plain DCGAN generator, which measured far less mode collapse than full-size random
        # modulations.  Small rather than zero weights keep the tail differentiable in w from the
        # start (an untrained random-weight prior must still respond to every w entry).
        nn.init.normal_(self.affine.weight, std=0.01)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        gamma, beta = self.affine(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        x = self.norm(x) * (1.0 + gamma) + beta
        return F.leaky_relu(x, 0.2)


@PRIORS.register("cgen")
class ConditionalGenerator(Prior):
    """Class-conditional generator whose stages are exposed for GLaD's head/tail split."""

    arch = "cgen"

    def __init__(
        self,
        num_classes: int,
        image_channels: int,
        image_size: int = 32,
        latent_dim: int = 64,
        w_dim: int = 128,
        base_channels: int = 128,
        min_channels: int = 32,
    ) -> None:
        super().__init__()
        if image_size < 4:
            raise ValueError(f"image_size must be at least 4, got {image_size}")
        self.num_classes = int(num_classes)
        self.image_channels = int(image_channels)
        self.image_size = int(image_size)
        self.latent_dim = int(latent_dim)
        self.w_dim = int(w_dim)
        self.base_channels = int(base_channels)
        self.min_channels = int(min_channels)

        # Stages double 4 -> 8 -> ... until the resolution reaches image_size (at least one stage).
        self._num_stages = max(1, math.ceil(math.log2(self.image_size / 4)))
        self.synth_size = 4 * 2**self._num_stages
        self._channels = [
            max(self.base_channels >> k, self.min_channels) for k in range(self._num_stages + 1)
        ]

        self.class_embed = nn.Embedding(self.num_classes, self.latent_dim)
        self.mapping = nn.Sequential(
            nn.Linear(2 * self.latent_dim, self.w_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(self.w_dim, self.w_dim),
            nn.LeakyReLU(0.2),
        )
        self.to_const = nn.Linear(self.w_dim, self._channels[0] * 16)
        self.const_norm = nn.BatchNorm2d(self._channels[0])
        self.stages = nn.ModuleList(
            ModulatedStage(self._channels[k], self._channels[k + 1], self.w_dim)
            for k in range(self._num_stages)
        )
        self.to_image = nn.Conv2d(self._channels[-1], self.image_channels, 3, padding=1)

    # -- the Prior interface -------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return self._num_stages

    @property
    def num_ws(self) -> int:
        """Entries of ``w`` (one per stage; entry 0 also feeds the 4x4 projection)."""
        return self._num_stages

    def layer_shape(self, k: int) -> tuple[int, ...]:
        self.check_layer(k)
        side = 4 * 2**k
        return (self._channels[k], side, side)

    def map_latent(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        w = self.mapping(torch.cat([z, self.class_embed(labels)], dim=1))
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def head(self, w: torch.Tensor, k: int) -> torch.Tensor:
        self.check_layer(k)
        f = F.leaky_relu(self.const_norm(self.to_const(w[:, 0]).view(-1, self._channels[0], 4, 4)), 0.2)
        for i in range(k):
            f = self.stages[i](f, w[:, i])
        return f

    def advance(self, f: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
        return self.stages[self.check_layer(k)](f, w[:, k])

    def tail(self, f: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
        self.check_layer(k)
        for i in range(k, self._num_stages):
            f = self.stages[i](f, w[:, i])
        x = torch.tanh(self.to_image(f))
        if self.synth_size != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
        return x

    @torch.no_grad()
    def calibrate(self, generator: torch.Generator, batches: int = 8, batch_size: int = 64) -> None:
        """Set the norm layers' statistics to the exact average over random batches (BigGAN's
        "standing stats"), then switch to ``eval()``; needed after training with an EMA copy and
        for random-weight priors, whose default statistics (mean 0, var 1) fit nothing."""
        norms = [m for m in self.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        self.train()
        device = self.to_const.weight.device
        for _ in range(batches):
            labels = torch.randint(0, self.num_classes, (batch_size,), generator=generator)
            z = self.sample_latents(labels, generator)
            self(z.to(device), labels.to(device))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        self.eval()

    def optimizer_groups(self, lr: float) -> list[dict[str, Any]]:
        """Parameter groups for training: the mapping MLP learns 100x slower (StyleGAN's
        ``lr_multiplier=0.01``), which keeps ``w`` from collapsing to one code early in training."""
        mapping = list(self.mapping.parameters())
        ids = {id(p) for p in mapping}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": rest, "lr": lr}, {"params": mapping, "lr": lr * 0.01}]

    def config(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "image_channels": self.image_channels,
            "image_size": self.image_size,
            "latent_dim": self.latent_dim,
            "w_dim": self.w_dim,
            "base_channels": self.base_channels,
            "min_channels": self.min_channels,
        }
