"""The in-memory dataset every other part consumes.

Images are held as one normalized float tensor ``N x C x H x W`` (MNIST is 188 MB,
CIFAR-10 614 MB as float32 -- fine in memory, and it keeps the per-class sampling of
the distillation loop a single ``index_select``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import UserError


@dataclass
class ImageDataset:
    """A labelled image set, normalized with ``mean``/``std`` (per channel, of the *train* split)."""

    images: torch.Tensor  # float32, N x C x H x W, normalized
    labels: torch.Tensor  # int64, N
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str = "dataset"
    _by_class: list[torch.Tensor] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must be N x C x H x W, got shape {tuple(self.images.shape)}")
        if self.labels.shape[0] != self.images.shape[0]:
            raise ValueError("images and labels differ in length")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    def indices_by_class(self) -> list[torch.Tensor]:
        """Indices of each class's images, computed once."""
        if self._by_class is None:
            order = torch.argsort(self.labels, stable=True)
            counts = torch.bincount(self.labels, minlength=self.num_classes).tolist()
            self._by_class = list(torch.split(order, counts))
        return self._by_class

    def class_counts(self) -> list[int]:
        return [int(ix.numel()) for ix in self.indices_by_class()]

    def sample_per_class(
        self, n: int, generator: torch.Generator, replace_if_short: bool = True
    ) -> torch.Tensor:
        """Indices of ``n`` images of each class, class-major (class 0's n, then class 1's, ...).

        A class with fewer than ``n`` images is sampled with replacement when
        ``replace_if_short`` (the real side of DM/DC only needs a batch), else it is an error.
        """
        out = []
        for c, ix in enumerate(self.indices_by_class()):
            if ix.numel() == 0:
                raise UserError(f"class {self.classes[c]!r} has no images; remove it or add images")
            if ix.numel() >= n:
                pick = torch.randperm(ix.numel(), generator=generator)[:n]
            elif replace_if_short:
                pick = torch.randint(0, ix.numel(), (n,), generator=generator)
            else:
                raise UserError(
                    f"class {self.classes[c]!r} has only {ix.numel()} images but {n} were asked for; "
                    f"lower --ipc to at most {min(self.class_counts())}"
                )
            out.append(ix[pick])
        return torch.cat(out)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Back to [0, 1] pixel range (for pictures and for generator outputs)."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return x * std + mean

    def normalize(self, x01: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=x01.dtype, device=x01.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x01.dtype, device=x01.device).view(1, -1, 1, 1)
        return (x01 - mean) / std

    def split_off(self, per_class: int, generator: torch.Generator) -> tuple[ImageDataset, ImageDataset]:
        """``(rest, held_out)``: ``per_class`` random images of every class held out (a validation
        split carved from training data, so choices are never made on the test set)."""
        held, rest = [], []
        for c, ix in enumerate(self.indices_by_class()):
            if ix.numel() <= per_class:
                raise UserError(
                    f"class {self.classes[c]!r} has {ix.numel()} training images, too few to hold out "
                    f"{per_class} for validation; lower the number held out"
                )
            perm = ix[torch.randperm(ix.numel(), generator=generator)]
            held.append(perm[:per_class])
            rest.append(perm[per_class:])
        return self.subset(torch.cat(rest).sort().values), self.subset(torch.cat(held).sort().values)

    def subset(self, indices: torch.Tensor) -> ImageDataset:
        return ImageDataset(
            self.images[indices], self.labels[indices], list(self.classes), self.mean, self.std, self.name
        )


@dataclass
class DatasetSplits:
    """Train and test splits of one dataset plus where it came from (for provenance)."""

    train: ImageDataset
    test: ImageDataset
    name: str
    source: str  # e.g. "npz:/path", "torchvision:MNIST", "folder:/path", "embedded"
    digits: bool = False  # digit datasets switch DSA's flip off
    info: dict = field(default_factory=dict)  # skipped files, content hash, ...
