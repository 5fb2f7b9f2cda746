"""``synset.safetensors``: images (normalized), labels, learnable tensors and metadata.

The file is all that evaluation needs: images are stored already decoded, together with
the normalization statistics and class names, so a set can be evaluated or viewed
without its prior.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..errors import UserError
from ..fileio import atomic_write, read_safetensors

KIND = "synset"


@dataclass
class SavedSynset:
    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def ipc(self) -> int:
        return int(torch.bincount(self.labels).max().item())


def save_synset(path: str | Path, saved: SavedSynset) -> None:
    tensors = {"images": saved.images.detach().cpu().contiguous(), "labels": saved.labels.detach().cpu()}
    tensors.update({k: v.detach().cpu().contiguous() for k, v in saved.tensors.items()})
    metadata = {
        "latentdd_kind": KIND,
        "format_version": "1",
        "classes": json.dumps(saved.classes),
        "mean": json.dumps(list(saved.mean)),
        "std": json.dumps(list(saved.std)),
        "meta": json.dumps(saved.meta),
    }
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_synset(path: str | Path) -> SavedSynset:
    p = Path(path)
    if not p.is_file():
        raise UserError(
            f"synthetic set {str(p)!r} does not exist; pass a run folder or a synset.safetensors file"
        )
    tensors, metadata = read_safetensors(
        p, f"{str(p)!r} is not a readable synthetic set (corrupt or wrong format); re-run distillation"
    )
    if metadata.get("latentdd_kind") != KIND:
        kind = metadata.get("latentdd_kind", "unknown")
        raise UserError(f"{str(p)!r} is a {kind!r} file, not a synthetic set; pass a synset.safetensors file")
    images = tensors.pop("images")
    labels = tensors.pop("labels")
    return SavedSynset(
        images=images,
        labels=labels,
        classes=json.loads(metadata["classes"]),
        mean=tuple(json.loads(metadata["mean"])),
        std=tuple(json.loads(metadata["std"])),
        meta=json.loads(metadata.get("meta", "{}")),
        tensors=tensors,
    )
