"""The contract between ``--prior`` specs and their loaders: what a loader is asked for
(:class:`PriorRequest`), where loaders register (:data:`PRIOR_SOURCES`, by scheme and by path
suffix), and the provenance every file-backed prior records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ....registry import Registry
from ...base import Prior
from ..io import file_sha256


@dataclass(frozen=True)
class PriorRequest:
    """What the dataset needs from a prior, plus the user's declared provenance."""

    num_classes: int
    channels: int
    image_size: int
    seed: int
    device: str | torch.device = "cpu"
    license: str | None = None
    source: str | None = None
    trust_pickle: bool = False  # the user vouched for pickled priors (--trust-pickle): they run code


#: ``scheme -> loader(rest, request) -> (prior, record)``
PRIOR_SOURCES: Registry[tuple[Prior, dict[str, Any]]] = Registry("prior source")

#: ``(suffix, scheme)``: bare paths with these suffixes go to that scheme's loader.
PATH_SUFFIXES: dict[str, str] = {}


def register_source(scheme: str, *, suffixes: tuple[str, ...] = ()) -> Callable:
    """Register a loader for ``scheme:...`` specs (and for bare paths ending in ``suffixes``)."""
    for s in suffixes:
        PATH_SUFFIXES[s.lower()] = scheme
    return PRIOR_SOURCES.register(scheme)


def file_record(path: str | Path) -> dict[str, Any]:
    """The part of a provenance record every file-backed prior shares."""
    p = Path(path)
    return {"path": str(p.resolve()), "file_sha256": file_sha256(p)}
