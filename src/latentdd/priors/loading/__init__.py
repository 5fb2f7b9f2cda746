"""Loading priors: the prior file format (:mod:`.io`), ``--prior`` specs resolved to a prior that fits
the dataset (:mod:`.resolve`), and the sources behind each scheme (:mod:`.sources`)."""

from .io import load_prior, save_prior, weights_sha256
from .resolve import absolute_spec, describe_builtin_priors, resolve_prior, split_spec
from .sources import BUILTIN_DIR, builtin_priors

__all__ = [
    "BUILTIN_DIR",
    "absolute_spec",
    "builtin_priors",
    "describe_builtin_priors",
    "load_prior",
    "resolve_prior",
    "save_prior",
    "split_spec",
    "weights_sha256",
]
