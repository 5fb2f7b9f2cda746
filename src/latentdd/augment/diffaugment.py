"""DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS
2020) for the built-in GAN priors.

A discriminator that sees the same few thousand real images for hours memorizes them, and the
generator follows it into a few modes -- what the CPU-trained CIFAR-10 prior did.  DiffAugment
augments *both* real and generated images, in the discriminator and generator steps alike, with
differentiable transformations, so the generator is still trained towards the un-augmented data.
Unlike DSA (one family per draw, shared by a real/synthetic pair), every family of the policy is
applied in sequence, each with its own per-image draw -- the paper's ``color,translation,cutout``
is ``color_crop_cutout`` here, reusing DSA's family implementations.
"""

from __future__ import annotations

import torch

from .dsa import DSA

DEFAULT_POLICY = "color_crop_cutout"


class DiffAugment:
    """``policy``: ``_``-joined DSA families applied in order (``"none"``: identity)."""

    def __init__(self, policy: str = DEFAULT_POLICY) -> None:
        self.policy = policy
        tokens = [] if policy.strip().lower() in ("", "none") else policy.lower().split("_")
        self.stages = [DSA(token) for token in tokens]  # DSA validates the names

    @property
    def enabled(self) -> bool:
        return bool(self.stages)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x, generator)
        return x
