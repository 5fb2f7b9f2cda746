"""Generative priors: the built-in conditional generator, its GAN trainer, random-weight priors
and the prior file format.  Every prior implements :class:`Prior` (head/tail split at layer k)."""

from .base import Prior
from .conditional import ConditionalGenerator
from .io import load_prior, save_prior, weights_sha256
from .random_prior import make_random_prior
from .registry import PRIORS
from .resolve import builtin_priors, describe_builtin_priors, resolve_prior
from .train import DEFAULT_STEPS, save_sample_grid, train_prior

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
