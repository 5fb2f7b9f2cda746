"""Random-weight priors: GLaD's ablation of "is it the architecture or the training?".

The built-in architecture, freshly initialized from a seed and frozen.  Construction runs under
:func:`~latentdd.seeding.seeded_global_rng` because ``nn.Module`` init draws from the global RNG.
"""

from __future__ import annotations

from typing import Any

from ...seeding import make_generator, seeded_global_rng
from ..base import Prior
from ..registry import PRIORS

RANDOM_ARCH = "cgen"


def make_random_prior(
    num_classes: int, channels: int, image_size: int, seed: int, arch: str = RANDOM_ARCH, **arch_kwargs: Any
) -> Prior:
    """A frozen, untrained built-in generator (``arch``, default ``cgen``; ``--prior random:sgen`` for
    the StyleGAN-style one) whose weights depend only on ``seed`` (and the sizes).

    Its norm statistics are calibrated on random latents (from the same seed) so activations keep
    a sensible scale through the stages instead of fading or saturating the ``tanh``.
    """
    with seeded_global_rng(seed):
        prior = PRIORS.create(
            arch, num_classes=num_classes, image_channels=channels, image_size=image_size, **arch_kwargs
        )
    prior.calibrate(make_generator(seed), batches=1, batch_size=64)
    return prior.eval().requires_grad_(False)
