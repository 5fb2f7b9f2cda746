"""Distillation objectives, registered by method name (``--method``).

Each objective registers itself with ``@OBJECTIVES.register("name")`` in its own file; this
package imports every one, so a new objective is one new file plus one name below.
"""

from . import dc, dm, match, mtt
from .base import OBJECTIVES, Objective, ObjectiveContext, RealSampler

__all__ = ["OBJECTIVES", "Objective", "ObjectiveContext", "RealSampler", "dc", "dm", "match", "mtt"]
