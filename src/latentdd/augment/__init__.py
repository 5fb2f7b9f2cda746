"""Differentiable Siamese Augmentation: one parameter draw replayed on real and synthetic batches."""

from .dsa import DEFAULT_STRATEGY, DSA, ClassDraws, DSAParams, make_dsa
from .families import FAMILIES, DSASettings, Family

__all__ = [
    "DEFAULT_STRATEGY",
    "DSA",
    "ClassDraws",
    "DSAParams",
    "DSASettings",
    "FAMILIES",
    "Family",
    "make_dsa",
]
