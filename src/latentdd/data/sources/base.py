"""What every dataset source receives (:class:`DatasetRequest`) and returns (:class:`RawSplits`).

Sources only *find and decode*: they hand over uint8 pixels and int64 labels.
Resizing, channel conversion, hashing and normalization happen once, in
:func:`latentdd.data.registry.load_dataset`, so every source behaves the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...errors import UserError
from ...registry import Registry


@dataclass(frozen=True)
class DatasetRequest:
    """The user's ask, as given to ``load_dataset`` (``argument`` is the PATH of ``folder:PATH``)."""

    name: str
    argument: str | None = None
    data_dir: Path | None = None
    download: bool = True
    image_size: int | None = None
    channels: int | None = None


@dataclass
class RawSplits:
    """Undecorated train/test pixels: ``x_*`` uint8 ``N x C x H x W``, ``y_*`` int64 ``N``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    source: str
    digits: bool = False
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.dtype != torch.uint8 or x.ndim != 4:
                raise UserError(
                    f"{self.source}: {split} images must be uint8 N x C x H x W, got {x.dtype} "
                    f"{tuple(x.shape)}; re-save them as uint8"
                )
            if y.shape != (x.shape[0],):
                raise UserError(
                    f"{self.source}: {split} has {x.shape[0]} images but labels of shape {tuple(y.shape)}; "
                    "give one label per image"
                )
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(self.classes)):
                raise UserError(
                    f"{self.source}: {split} labels span {int(y.min())}..{int(y.max())} but there are "
                    f"{len(self.classes)} class names; fix the labels or the class list"
                )


def images_to_tensor(x: np.ndarray | torch.Tensor, origin: str) -> torch.Tensor:
    """``N x H x W`` or ``N x H x W x C`` (C in 1, 3) uint8 -> contiguous uint8 ``N x C x H x W``."""
    t = torch.as_tensor(np.asarray(x))
    if t.dtype != torch.uint8:
        raise UserError(f"{origin}: images must be uint8 (0..255), got {t.dtype}; convert them to uint8")
    if t.ndim == 3:
        return t.unsqueeze(1).contiguous()
    if t.ndim == 4 and t.shape[-1] in (1, 3):
        return t.permute(0, 3, 1, 2).contiguous()
    raise UserError(
        f"{origin}: images must be N x H x W (gray) or N x H x W x 3 (RGB), got shape {tuple(t.shape)}; "
        "reshape them to one of those"
    )


def labels_to_tensor(y: np.ndarray | torch.Tensor | list[int], origin: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y))
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise UserError(f"{origin}: labels must be integers, got {t.dtype}; store class indices")
    return t.reshape(-1).to(torch.int64)


def numbered_classes(n: int) -> list[str]:
    return [str(i) for i in range(n)]


DATASETS: Registry[RawSplits] = Registry("dataset")
# Registered names that take an argument after a colon, with the argument's placeholder
# ("folder" -> "PATH", used as ``folder:PATH``).
_ARGUMENTS: dict[str, str] = {}


def register_dataset(
    name: str, argument: str | None = None
) -> Callable[[Callable[[DatasetRequest], RawSplits]], Callable[[DatasetRequest], RawSplits]]:
    """Register a source ``fn(request) -> RawSplits`` under ``name`` (``name:ARG`` if ``argument``)."""
    if argument is not None:
        _ARGUMENTS[name.lower()] = argument
    return DATASETS.register(name)


def argument_of(name: str) -> str | None:
    """The placeholder of the argument ``name`` takes after a colon (``"PATH"`` for folder), or None."""
    return _ARGUMENTS.get(name)


def dataset_names() -> list[str]:
    """The names ``load_dataset`` accepts, as a user types them (``folder:PATH``)."""
    return [f"{n}:{_ARGUMENTS[n]}" if n in _ARGUMENTS else n for n in DATASETS.names()]
