"""Prior architectures.  Each registers itself in :data:`PRIORS` where it is defined; this package
imports every module, so anything that imports it (loading a prior file, training one) finds them all.

* ``cgen`` -- :class:`ConditionalGenerator`, the class-conditional GAN generator;
* ``sgen`` -- :class:`SGenPrior`, the StyleGAN-style generator (through the StyleGAN adapter);
* ``ae`` -- :class:`KLAutoencoderPrior`, latent diffusion's first stage at CPU size;
* :class:`StyleGANPrior` -- NVlabs StyleGAN2/3 and StyleGAN-XL networks; :class:`AutoencoderKLPrior` --
  any diffusers ``AutoencoderKL``; :class:`InterfacePrior` -- any module with the prior interface.
"""

from ..registry import PRIORS
from . import adapter, autoencoder, conditional, kl_autoencoder, random_prior, sgen, stylegan
from .adapter import InterfacePrior, as_prior
from .autoencoder import AutoencoderKLPrior
from .conditional import ConditionalGenerator
from .kl_autoencoder import KLAutoencoderPrior
from .random_prior import RANDOM_ARCH, make_random_prior
from .sgen import SGenPrior
from .stylegan import StyleGANPrior

__all__ = [
    "PRIORS",
    "RANDOM_ARCH",
    "AutoencoderKLPrior",
    "ConditionalGenerator",
    "InterfacePrior",
    "KLAutoencoderPrior",
    "SGenPrior",
    "StyleGANPrior",
    "adapter",
    "as_prior",
    "autoencoder",
    "conditional",
    "kl_autoencoder",
    "make_random_prior",
    "random_prior",
    "sgen",
    "stylegan",
]
