"""The objective interface: pixels in, scalar loss out.

An objective receives the real training data (through :class:`RealSampler`), the
synthetic *pixels* as a leaf tensor, their labels and a ``torch.Generator``; it returns
a loss whose gradient w.r.t. those pixels the engine pushes into whatever parameterizes
them.  It never learns whether the pixels came from a generator (GLaD's point).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..augment import DSA
from ..compile import eager_embed
from ..data.dataset import ImageDataset
from ..memory_format import model_channels_last
from ..registry import Registry
from ..seeding import draw_seed, seeded_global_rng


class RealSampler:
    """Class-balanced batches of real training images, moved to ``device`` once."""

    def __init__(self, train: ImageDataset, device: torch.device) -> None:
        self.images = train.images.to(device)
        self.num_classes = train.num_classes
        self._by_class = train.indices_by_class()
        self._train = train

    def per_class(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` images of every class, class-major, and their labels."""
        idx = self._train.sample_per_class(n, generator)
        labels = torch.arange(self.num_classes).repeat_interleave(n)
        return self.images[idx.to(self.images.device)], labels.to(self.images.device)


@dataclass
class ObjectiveContext:
    """What every objective may use, built once by the engine."""

    cfg: Any
    num_classes: int
    channels: int
    image_size: tuple[int, int]
    device: torch.device
    dsa: DSA | None
    model_factory: Callable[[], nn.Module]
    embed: Callable[[nn.Module, torch.Tensor], torch.Tensor] = eager_embed  # or compile.compiled_embed()
    #: under torchrun: the classes this rank matches (a boolean mask); None: all of them
    owned: torch.Tensor | None = None

    def owns(self, labels: torch.Tensor) -> torch.Tensor:
        """Which of ``labels`` belong to this rank's classes (all of them in one process)."""
        if self.owned is None:
            return torch.ones_like(labels, dtype=torch.bool)
        return self.owned.to(labels.device)[labels]

    def fresh_model(self, generator: torch.Generator) -> nn.Module:
        """A freshly initialized distillation network, its init seeded from ``generator``.

        Its convolutions are channels-last (faster on CPU and GPU; memory_format.py)."""
        with seeded_global_rng(draw_seed(generator)):
            return model_channels_last(self.model_factory().to(self.device))


class Objective(ABC):
    name: str = "objective"

    def __init__(self, ctx: ObjectiveContext) -> None:
        self.ctx = ctx

    @abstractmethod
    def loss(
        self, real: RealSampler, syn: torch.Tensor, syn_labels: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor: ...

    def after_step(
        self, decode: Callable[[], torch.Tensor], syn_labels: torch.Tensor, generator: torch.Generator
    ) -> None:
        """Hook after the synthetic set moved (gradient matching trains its network here).

        ``decode()`` renders the current images; it is a callable so objectives that do not
        need them (DM) cost nothing."""
        return None

    def discard_step(self) -> None:
        """The engine skipped this iteration's update (its loss or gradient was not finite): drop
        whatever the objective learned from it.  Called instead of :meth:`after_step`."""
        return None

    def tensors(self) -> dict[str, torch.Tensor]:
        """Tensors saved with the synthetic set (MTT: ``learned_lr``); none by default."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Resumable state of the objective (learnable tensors, its optimizer, counters).

        Must hold only tensors, numbers, strings, lists and dicts (checkpoints load with
        ``weights_only=True``)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        return None


OBJECTIVES: Registry[type[Objective]] = Registry("method")
