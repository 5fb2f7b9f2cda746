"""Where datasets come from: one module per kind of source, each registering its names with
:func:`~latentdd.data.sources.base.register_dataset` where it is defined; importing this package
imports them all, so :data:`DATASETS` is complete."""

from . import embedded, folder, torchvision_sets
from .base import DATASETS, DatasetRequest, RawSplits, argument_of, dataset_names, register_dataset

__all__ = [
    "DATASETS",
    "DatasetRequest",
    "RawSplits",
    "argument_of",
    "dataset_names",
    "embedded",
    "folder",
    "register_dataset",
    "torchvision_sets",
]
