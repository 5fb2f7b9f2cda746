"""Where priors come from: one module per ``--prior`` scheme, each registering its loader where it
is defined.  Importing this package imports them all, so :data:`PRIOR_SOURCES` is complete; none
imports an optional dependency (diffusers, a StyleGAN checkout) until a spec asks for it."""

from . import diffusers, local, module, stylegan
from .base import PATH_SUFFIXES, PRIOR_SOURCES, PriorRequest, file_record, register_source
from .local import BUILTIN_DIR, builtin_file, builtin_priors

__all__ = [
    "BUILTIN_DIR",
    "builtin_file",
    "PATH_SUFFIXES",
    "PRIOR_SOURCES",
    "PriorRequest",
    "builtin_priors",
    "diffusers",
    "file_record",
    "local",
    "module",
    "register_source",
    "stylegan",
]
