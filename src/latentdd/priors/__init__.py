"""Generative priors, split as diffusers splits models, loading and training:

* :mod:`.base` -- the :class:`Prior` interface every prior implements (head/tail split at layer k);
* :mod:`.models` -- the architectures (built-in generators, the autoencoder, adapters for StyleGAN
  pickles, diffusers autoencoders and any module with the interface);
* :mod:`.loading` -- the prior file format and ``--prior`` specs resolved to a prior;
* :mod:`.training` -- training priors in-project (GAN recipe, KL autoencoder);
* :mod:`.inversion` -- fitting a prior's latents to real images (``--init real`` for GANs).
"""

from .base import Prior
from .loading import (
    builtin_priors,
    describe_builtin_priors,
    load_prior,
    resolve_prior,
    save_prior,
    weights_sha256,
)
from .models import PRIORS, ConditionalGenerator, make_random_prior
from .training.gan import DEFAULT_STEPS, save_sample_grid, train_prior

__all__ = [
    "DEFAULT_STEPS",
    "PRIORS",
    "ConditionalGenerator",
    "Prior",
    "builtin_priors",
    "describe_builtin_priors",
    "load_prior",
    "make_random_prior",
    "resolve_prior",
    "save_prior",
    "save_sample_grid",
    "train_prior",
    "weights_sha256",
]
