"""``embedded``: the default dataset, shipped inside the package so the demo runs offline.

A class-balanced Fashion-MNIST subset: the first 500 train and first 100 test images
of each of the 10 classes in the official release's order (5 000 / 1 000 images,
28 x 28 gray, 2.6 MB), in ``latentdd/data/embedded/fashion_mnist_small.npz`` (keys
``x_train``, ``y_train``, ``x_test``, ``y_test``) with ``classes.txt``.

Made by ``python scripts/make_embedded.py`` from the repository root (source:
``../shared/datasets/fashion_mnist``, the bit-exact official release); the script
writes byte-identical files on every run.

License: Fashion-MNIST is MIT licensed, Copyright (c) 2017 Zalando SE; the notice
ships beside the data as ``LICENSE-fashion-mnist.txt``.

Fashion-MNIST rather than MNIST because it is harder (distilled MNIST is near-perfect
with any method, so it shows little) while staying small enough for a laptop CPU.
"""

from __future__ import annotations

from importlib import resources

from .base import DatasetRequest, RawSplits, images_to_tensor, labels_to_tensor, register_dataset
from .npz import parse_classes, read_npz

PACKAGE = "latentdd.data"
FOLDER = "embedded"
FILENAME = "fashion_mnist_small.npz"
LICENSE = "MIT (Fashion-MNIST, Copyright (c) 2017 Zalando SE)"


@register_dataset("embedded")
def load_embedded(request: DatasetRequest) -> RawSplits:
    """``data_dir`` and ``download`` do not apply: the data is part of the package."""
    folder = resources.files(PACKAGE).joinpath(FOLDER)
    # as_file: a real path even when the package is installed zipped
    with resources.as_file(folder.joinpath(FILENAME)) as path:
        arrays = read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
    classes = parse_classes(folder.joinpath("classes.txt").read_text(encoding="utf-8"))
    origin = f"embedded:{FOLDER}/{FILENAME}"
    return RawSplits(
        images_to_tensor(arrays["x_train"], origin),
        labels_to_tensor(arrays["y_train"], origin),
        images_to_tensor(arrays["x_test"], origin),
        labels_to_tensor(arrays["y_test"], origin),
        classes,
        origin,
        digits=False,
        info={"license": LICENSE},
    )
