"""Which trainer makes a prior of each architecture (``latentdd prior train --arch NAME``)."""

from __future__ import annotations

from typing import Any

from ...registry import Registry
from .autoencoder import train_autoencoder
from .gan import train_prior

#: ``arch -> trainer(train_split, *, steps, epochs, seed, device, out, progress, arch, ...)``
TRAINERS: Registry[Any] = Registry("trainable prior architecture")
TRAINERS.register("cgen")(train_prior)  # class-conditional GAN (hinge loss, projection discriminator)
TRAINERS.register("sgen")(train_prior)  # StyleGAN-style generator, same GAN recipe
TRAINERS.register("ae")(train_autoencoder)  # KL autoencoder (latent diffusion's first stage)
