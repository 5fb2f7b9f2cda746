"""Datasets by name: torchvision sets, npz folders, image folders, the embedded default."""

from .dataset import DatasetSplits, ImageDataset
from .registry import DATASETS, dataset_label, load_dataset

__all__ = ["DATASETS", "DatasetSplits", "ImageDataset", "dataset_label", "load_dataset"]
