"""Distillation objectives, registered by method name (``--method``).

Every module of this package is imported, so an objective registers itself with
``@OBJECTIVES.register("name")`` in its own file and needs no edit here.
"""

import importlib
import pkgutil

from .base import OBJECTIVES, Objective, ObjectiveContext, RealSampler

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["OBJECTIVES", "Objective", "ObjectiveContext", "RealSampler"]
