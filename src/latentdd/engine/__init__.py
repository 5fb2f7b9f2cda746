"""The distillation engine."""

from .loop import distill
from .rundir import RunDir

__all__ = ["RunDir", "distill"]
