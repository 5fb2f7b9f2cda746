"""Distillation objectives, registered by method name (``--method``)."""

from . import dm  # noqa: F401  (registers "dm")
from .base import OBJECTIVES, Objective, ObjectiveContext, RealSampler

__all__ = ["OBJECTIVES", "Objective", "ObjectiveContext", "RealSampler"]
