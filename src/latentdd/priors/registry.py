"""The prior architecture registry.

Each generator architecture registers itself where it is defined (``@PRIORS.register("cgen")``),
so a prior file only needs to store the architecture's name and constructor arguments: loading
rebuilds the module from this registry and never touches training code.
"""

from __future__ import annotations

from ..registry import Registry
from .base import Prior

PRIORS: Registry[Prior] = Registry("prior")
