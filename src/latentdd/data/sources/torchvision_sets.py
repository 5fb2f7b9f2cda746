"""The standard benchmark sets by name: ``mnist``, ``fashion-mnist``, ``cifar10``, ``cifar100``, ``svhn``.

Resolution order, so offline machines and existing downloads both work:

1. ``data_dir`` holds an npz copy (``data_dir/<folder>/train.npz`` or
   ``data_dir/train.npz``; see :mod:`.npz`) -> read it;
2. otherwise torchvision's own dataset class, with ``root = data_dir`` or
   ``$LATENTDD_CACHE/data`` or ``~/.cache/latentdd/data``, downloading when allowed.

Only the raw ``uint8`` arrays torchvision holds (``.data`` / ``.targets``) are used,
not its per-item PIL path, so loading 60 000 images is one array copy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torchvision.datasets as tvd

from ...errors import UserError
from .base import (
    DatasetRequest,
    RawSplits,
    images_to_tensor,
    labels_to_tensor,
    numbered_classes,
    register_dataset,
)
from .npz import find_npz_folder, load_npz_folder


def default_root() -> Path:
    """``$LATENTDD_CACHE/data``, else ``~/.cache/latentdd/data`` (read per call, so tests can redirect it)."""
    cache = os.environ.get("LATENTDD_CACHE")
    return (Path(cache) if cache else Path.home() / ".cache" / "latentdd") / "data"


def _split_flag(cls: type, root: str, train: bool, download: bool) -> tvd.VisionDataset:
    return cls(root, train=train, download=download)


def _split_name(cls: type, root: str, train: bool, download: bool) -> tvd.VisionDataset:
    return cls(root, split="train" if train else "test", download=download)


@dataclass(frozen=True)
class StandardSet:
    """How one standard set is found: npz folder names, torchvision class, array layout."""

    name: str
    npz_folders: tuple[str, ...]
    tv_name: str
    make: Callable[[str, bool, bool], tvd.VisionDataset]  # (root, train, download)
    layout: str  # "NHW", "NHWC" or "NCHW": how torchvision stores ``.data``
    digits: bool = False
    classes: tuple[str, ...] | None = None  # None: take torchvision's ``.classes``


STANDARD_SETS = (
    StandardSet("mnist", ("mnist", "MNIST"), "MNIST", partial(_split_flag, tvd.MNIST), "NHW", digits=True,
                classes=tuple(numbered_classes(10))),
    StandardSet("fashion-mnist", ("fashion_mnist", "fashion-mnist", "FashionMNIST"), "FashionMNIST",
                partial(_split_flag, tvd.FashionMNIST), "NHW"),
    StandardSet("cifar10", ("cifar10", "cifar-10", "CIFAR10"), "CIFAR10", partial(_split_flag, tvd.CIFAR10),
                "NHWC"),
    StandardSet("cifar100", ("cifar100", "cifar-100", "CIFAR100"), "CIFAR100",
                partial(_split_flag, tvd.CIFAR100), "NHWC"),
    StandardSet("svhn", ("svhn", "SVHN"), "SVHN", partial(_split_name, tvd.SVHN), "NCHW", digits=True,
                classes=tuple(numbered_classes(10))),
)  # fmt: skip


def _torchvision_split(spec: StandardSet, root: Path, train: bool, download: bool) -> tvd.VisionDataset:
    split = "train" if train else "test"
    try:
        return spec.make(str(root), train, download)
    except ImportError as e:  # SVHN's .mat files need scipy
        package = (e.name or "scipy").split(".")[0]
        raise UserError(f"reading {spec.name} needs the package {package}: pip install {package}") from None
    except (RuntimeError, OSError) as e:  # not found, failed integrity check, no network
        if download:
            raise UserError(
                f"could not download {spec.name} ({split}) into {root}: {e}. Without internet, pass "
                f"--data-dir a folder holding {spec.npz_folders[0]}/train.npz + test.npz + classes.txt "
                "or torchvision's files"
            ) from None
        raise UserError(
            f"{spec.name} ({split}) was not found in {root} and downloading is off: {e}. Pass --data-dir a "
            f"folder holding {spec.npz_folders[0]}/train.npz + test.npz + classes.txt or torchvision's "
            "files, or allow downloading"
        ) from None


def _arrays(spec: StandardSet, ds: tvd.VisionDataset, origin: str) -> tuple[torch.Tensor, torch.Tensor]:
    data = torch.as_tensor(np.asarray(ds.data))
    if spec.layout == "NCHW":
        data = data.permute(0, 2, 3, 1)
    labels = ds.targets if hasattr(ds, "targets") else ds.labels
    return images_to_tensor(data, origin), labels_to_tensor(labels, origin)


def load_standard(spec: StandardSet, request: DatasetRequest) -> RawSplits:
    if request.data_dir is not None:
        folder = find_npz_folder(request.data_dir, spec.npz_folders)
        if folder is not None:
            return load_npz_folder(folder, digits=spec.digits)
    root = (request.data_dir or default_root()).expanduser()
    train = _torchvision_split(spec, root, True, request.download)
    test = _torchvision_split(spec, root, False, request.download)
    origin = f"torchvision:{spec.tv_name}:{root}"
    x_train, y_train = _arrays(spec, train, origin)
    x_test, y_test = _arrays(spec, test, origin)
    classes = list(spec.classes) if spec.classes is not None else list(train.classes)
    return RawSplits(x_train, y_train, x_test, y_test, classes, origin, spec.digits)


for _spec in STANDARD_SETS:
    register_dataset(_spec.name)(partial(load_standard, _spec))
