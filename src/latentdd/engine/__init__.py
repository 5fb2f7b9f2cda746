"""The distillation engine."""

from ..runs import RunDir
from .loop import distill

__all__ = ["RunDir", "distill"]
