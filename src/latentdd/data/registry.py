"""Datasets by name: ``load_dataset("mnist")``, ``load_dataset("folder:~/photos")``, ...

Each source registers itself where it is defined (``sources/*.py``) with
:func:`~latentdd.data.sources.base.register_dataset`; this module turns what a source decoded into
:class:`~latentdd.data.dataset.DatasetSplits` the same way for all of them:

1. optional ``channels`` / ``image_size`` overrides (antialiased resize, luma / repeat),
2. a SHA-256 of the final uint8 pixels and labels (provenance: two runs on the same
   hash saw the same data),
3. per-channel mean/std of the *train* split, applied to both splits (using test
   statistics would leak the test set into the inputs).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UserError
from .dataset import DatasetSplits, ImageDataset
from .sources import DATASETS, DatasetRequest, RawSplits, argument_of, dataset_names
from .transforms import (
    channel_stats,
    check_channels,
    check_image_size,
    conform,
    content_hash,
    normalize_uint8,
)

DEFAULT_DATASET = "embedded"

# Per-channel (mean, std) that the published DC/DSA/DM/MTT/GLaD code normalizes with, where they differ
# from the train split's own statistics.  For CIFAR-10 the published std (0.2023, ...) is not the pixels'
# std (about 0.247): using the true one would scale normalized images by about 0.82, and with them the
# effective image learning rate and the colour augmentation's strength, so figures would not compare.
# Every other set (and user folders) is normalized with its computed statistics.
PUBLISHED_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
}


def dataset_label(name: str) -> str:
    """A short name for titles: ``folder:/data/imagenette64`` -> ``imagenette64`` (a whole path does not fit
    above a one-column grid); standard names are returned as given."""
    kind, sep, argument = name.partition(":")
    return Path(argument.rstrip("/\\")).name or name if sep and argument else name


def _parse(name: str) -> tuple[str, str | None]:
    kind, sep, argument = name.partition(":")
    kind = kind.strip().lower().replace("_", "-")
    if kind not in DATASETS:
        hint = ""
        if Path(name).expanduser().is_dir():
            hint = f" (to read the image folder {name!r}, write folder:{name})"
        raise UserError(f"unknown dataset {name!r}{hint}; choose one of: {', '.join(dataset_names())}")
    placeholder = argument_of(kind)
    if placeholder is not None and not (sep and argument):
        raise UserError(f"dataset {kind!r} needs {placeholder}: write {kind}:{placeholder}")
    if placeholder is None and sep:
        raise UserError(f"dataset {kind!r} takes no ':' argument; write just {kind!r}")
    return kind, (argument if sep else None)


def load_dataset(
    name: str = DEFAULT_DATASET,
    data_dir: str | Path | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    download: bool = True,
) -> DatasetSplits:
    """Load train and test splits of ``name``, normalized with the train split's statistics.

    ``data_dir``: where standard sets are looked for (npz copies as in ``shared/datasets``,
    or torchvision's files); ``image_size`` / ``channels`` (1 or 3) convert every image,
    whatever the source.  ``download`` lets torchvision fetch a missing standard set.
    """
    check_image_size(image_size)
    check_channels(channels)
    kind, argument = _parse(name)
    root = None
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise UserError(
                f"data folder {str(root)!r} does not exist; pass --data-dir an existing folder "
                f"(e.g. one holding {kind}/train.npz or torchvision's files), or leave it out to "
                "use the default cache ($LATENTDD_CACHE/data or ~/.cache/latentdd/data)"
            )
    request = DatasetRequest(kind, argument, root, download, image_size, channels)
    raw = DATASETS.create(kind, request)
    display = f"{kind}:{argument}" if argument is not None else kind
    return finish(raw, display, image_size, channels)


def finish(raw: RawSplits, name: str, image_size: int | None, channels: int | None) -> DatasetSplits:
    """Conform, hash and normalize what a source decoded (shared by every source)."""
    x_train = conform(raw.x_train, image_size, channels)
    x_test = conform(raw.x_test, image_size, channels)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UserError(
            f"{raw.source}: train images are {tuple(x_train.shape[1:])} but test images "
            f"{tuple(x_test.shape[1:])} (C x H x W); pass image_size and channels to make them agree"
        )
    info = {
        "sha256": content_hash(x_train, raw.y_train, x_test, raw.y_test),
        "n_train": int(x_train.shape[0]),
        "n_test": int(x_test.shape[0]),
        **raw.info,
    }
    mean, std = normalization_stats(name, x_train)
    train = ImageDataset(normalize_uint8(x_train, mean, std), raw.y_train, list(raw.classes), mean, std, name)
    test = ImageDataset(normalize_uint8(x_test, mean, std), raw.y_test, list(raw.classes), mean, std, name)
    return DatasetSplits(train, test, name, raw.source, raw.digits, info)


def normalization_stats(name: str, x_train: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The published constants for a standard set whose references use them (same channel count),
    else the train split's own per-channel mean and std."""
    published = PUBLISHED_STATS.get(name)
    if published is not None and len(published[0]) == int(x_train.shape[1]):
        return published
    return channel_stats(x_train)
