"""npz copies of standard datasets, laid out as in the project's ``shared/datasets``.

A folder holds ``train.npz`` and ``test.npz`` (each with ``x``: uint8 ``N x H x W`` or
``N x H x W x 3`` and ``y``: integer labels, in the original release's order) and
``classes.txt`` (line *i* names label *i*).  This is not a registered name of its own:
the standard names (``mnist``, ``cifar10``, ...) look here first when ``data_dir`` holds
such a folder, and fall back to torchvision otherwise.
"""

from __future__ import annotations

import logging
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ...errors import UserError
from ...loadcheck import error_detail
from .base import RawSplits, images_to_tensor, labels_to_tensor, numbered_classes

log = logging.getLogger(__name__)


def find_npz_folder(data_dir: Path, folder_names: Sequence[str]) -> Path | None:
    """``data_dir/<name>/`` for the first of ``folder_names`` holding ``train.npz``, else
    ``data_dir`` itself if it holds ``train.npz``, else None."""
    for name in folder_names:
        if (data_dir / name / "train.npz").is_file():
            return data_dir / name
    if (data_dir / "train.npz").is_file():
        return data_dir
    return None


def read_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an npz file; a missing, corrupt or incomplete file is a UserError."""
    if not path.is_file():
        raise UserError(f"{path} is missing; put the split there (keys {', '.join(keys)})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise UserError(
                    f"{path} lacks the array(s) {', '.join(missing)} (has {', '.join(npz.files)}); "
                    f"save it with keys {', '.join(keys)}"
                )
            return {k: npz[k] for k in keys}
    except UserError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, KeyError, struct.error) as e:
        detail = error_detail(e)
        if "pickle" in detail:  # numpy's advice to unpickle would run whatever the file names
            detail = "not plain arrays (it would have to be unpickled, which latentdd never does)"
        if path.stat().st_size == 0:
            detail = "empty file"
        raise UserError(f"cannot read {path}: {detail}; re-create or re-download the file") from None


def parse_classes(text: str) -> list[str]:
    """One class name per line; inner spaces kept, trailing blank lines dropped."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_split(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of one npz split, one label per image (else a UserError naming the file)."""
    arrays = read_npz(path, ("x", "y"))
    x, y = images_to_tensor(arrays["x"], str(path)), labels_to_tensor(arrays["y"], str(path))
    if len(y) != len(x):
        raise UserError(
            f"{path}: {len(x)} images but labels of shape {tuple(np.asarray(arrays['y']).shape)}; "
            "give one label per image"
        )
    return x, y


def load_npz_folder(folder: Path, digits: bool = False) -> RawSplits:
    x_train, y_train = read_split(folder / "train.npz")
    x_test, y_test = read_split(folder / "test.npz")
    classes_file = folder / "classes.txt"
    if classes_file.is_file():
        try:
            classes = parse_classes(classes_file.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise UserError(
                f"{classes_file} is not UTF-8 text; write one class name per line (line i names label i)"
            ) from None
        for path, y in ((folder / "train.npz", y_train), (folder / "test.npz", y_test)):
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(classes)):
                raise UserError(
                    f"{path}: labels span {int(y.min())}..{int(y.max())} but {classes_file} names "
                    f"{len(classes)} classes; fix the labels or the class list"
                )
    else:
        labels = torch.cat([y_train, y_test])
        n = int(labels.max()) + 1 if labels.numel() else 0
        log.warning("%s not found; naming the %d classes by their index", classes_file, n)
        classes = numbered_classes(n)
    return RawSplits(x_train, y_train, x_test, y_test, classes, f"npz:{folder}", digits)
