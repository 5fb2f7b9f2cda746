"""An autoencoder prior trained in-project (``latentdd prior train --arch ae``).

Latent-space distillation methods that followed GLaD ("Dataset Distillation in Latent Space",
LD3M, D4M) replace the GAN with the first stage of latent diffusion: a KL-regularized
convolutional autoencoder.  Its decoder is a prior that keeps images on the data's manifold,
and -- unlike a GAN -- it has an encoder, so the synthetic set can *start from encoded real
images* (``init_from_images``) instead of from the generator's samples.

The network is diffusers' ``AutoencoderKL`` (exactly latent diffusion's first stage), built small
enough to train on a 2-core CPU: three resolution stages, one residual block each, no attention.
The split into layers (``--layer k``) is :class:`~.autoencoder.AutoencoderKLPrior`'s: ``k = 0`` is
the latent (scaled to unit variance, as latent diffusion scales it), ``k = 1`` the decoder's mid
block output, ``k = 1 + i`` the output of up block ``i - 1``.

Class-conditional samples: an autoencoder is unconditional, so after training the trainer fits one
diagonal Gaussian per class to the encoded training images (``class_mean``, ``class_std``).  Samples
of class ``y`` decode ``class_mean[y] + class_std[y] * z`` -- that is what ``--init sample`` starts
from and what ``latentdd prior score`` measures; ``--init real`` (the default) encodes real images.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..registry import PRIORS
from .autoencoder import AutoencoderKLPrior, require_diffusers

ARCH = "ae"


def default_channels(image_size: int) -> tuple[int, ...]:
    """Stage widths by resolution: always three stages (two downsamplings), so the latent is a quarter
    of the image's side (4 x 8 x 8 at 32 px, 4 x 16 x 16 at 64 px) and every resolution is compressed
    12x (3 x 4^2 / 4 values per latent value).

    The widths are the 32 px prior's (32, 64, 128) halved per doubling above 32 px (never under 16,
    the group-norm size), so each stage costs what it costs at 32 px (64^2 x 16^2 = 32^2 x 32^2).
    An earlier design added a downsampling stage per doubling to keep the latent at 8 x 8: trained
    1000 steps on Imagenette at 64 px it kept only coarse layout and colour (a 48x squeeze; BENCHMARKS.md
    "Session 10")."""
    halvings = max(0, round(math.log2(max(image_size, 32) / 32)))
    return tuple(max(16, width >> halvings) for width in (32, 64, 128))


@PRIORS.register(ARCH)
class KLAutoencoderPrior(AutoencoderKLPrior):
    """A small ``AutoencoderKL`` trained on the dataset, with per-class latent Gaussians."""

    arch = ARCH

    def __init__(
        self,
        num_classes: int,
        image_channels: int,
        image_size: int = 32,
        block_out_channels: tuple[int, ...] | list[int] | None = None,
        latent_channels: int = 4,
        layers_per_block: int = 1,
        norm_num_groups: int = 16,
        scaling_factor: float = 1.0,
    ) -> None:
        autoencoder_kl = require_diffusers()
        channels = tuple(int(c) for c in (block_out_channels or default_channels(int(image_size))))
        n = len(channels)
        vae = autoencoder_kl(
            in_channels=int(image_channels),
            out_channels=int(image_channels),
            down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=channels,
            layers_per_block=int(layers_per_block),
            latent_channels=int(latent_channels),
            norm_num_groups=int(norm_num_groups),
            sample_size=int(image_size),
            scaling_factor=float(scaling_factor),
            mid_block_add_attention=False,  # attention at 8 x 8 costs CPU time and measured nothing here
        )
        super().__init__(vae, num_classes, image_channels, image_size)
        self.layers_per_block = int(layers_per_block)
        self.norm_num_groups = int(norm_num_groups)
        shape = (self.num_classes, self.latent_dim)
        self.register_buffer("class_mean", torch.zeros(shape))
        self.register_buffer("class_std", torch.ones(shape))

    def set_scaling_factor(self, value: float) -> None:
        """Latent diffusion's rescaling: ``1 / std`` of the encoded data makes latents unit-scale,
        so ``--lr-feat`` at layer 0 means the same step on every dataset."""
        self.vae.register_to_config(scaling_factor=float(value))
        self.scaling_factor = float(value)

    @torch.no_grad()
    def fit_class_gaussians(self, latents: torch.Tensor, labels: torch.Tensor) -> None:
        """One diagonal Gaussian per class over scaled latents ``N x C x h x w``."""
        flat = latents.reshape(latents.shape[0], -1)
        for c in range(self.num_classes):
            rows = flat[labels == c]
            if rows.shape[0] == 0:
                continue
            self.class_mean[c] = rows.mean(0)
            self.class_std[c] = rows.std(0, unbiased=rows.shape[0] > 1).clamp_min(1e-3)

    def map_latent(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``w`` is the scaled latent, drawn from class ``labels``' Gaussian (``z`` standard normal)."""
        labels = labels.to(self.class_mean.device)
        latent = self.class_mean[labels] + self.class_std[labels] * z.reshape(z.shape[0], -1)
        return latent.reshape(z.shape[0], 1, self.latent_dim)

    def config(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "image_channels": self.image_channels,
            "image_size": self.image_size,
            "block_out_channels": list(self.block_out_channels),
            "latent_channels": self.latent_channels,
            "layers_per_block": self.layers_per_block,
            "norm_num_groups": self.norm_num_groups,
            "scaling_factor": self.scaling_factor,
        }
