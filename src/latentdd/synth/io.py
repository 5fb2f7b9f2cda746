"""``synset.safetensors``: images (normalized), labels, learnable tensors and metadata.

The file is all that evaluation needs: images are stored already decoded, together with
the normalization statistics and class names, so a set can be evaluated or viewed
without its prior.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..errors import UserError
from ..fileio import atomic_write, read_safetensors
from ..loadcheck import nonfinite_problem, tensor_problem

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
    problem = _problem(tensors, metadata)
    if problem:
        raise UserError(f"{str(p)!r} is not a usable synthetic set: {problem}; re-run distillation")
    return SavedSynset(
        images=tensors.pop("images"),
        labels=tensors.pop("labels"),
        classes=json.loads(metadata["classes"]),
        mean=tuple(json.loads(metadata["mean"])),
        std=tuple(json.loads(metadata["std"])),
        meta=json.loads(metadata.get("meta", "{}")),
        tensors=tensors,
    )


def _json_problem(metadata: dict[str, str], key: str, kind: type, default: str | None = None) -> str | None:
    try:
        value = json.loads(metadata[key] if default is None else metadata.get(key, default))
    except (KeyError, ValueError):
        return f"its metadata {key!r} is missing or not JSON"
    if not isinstance(value, kind):
        return f"its metadata {key!r} is a {type(value).__name__}, not a {kind.__name__}"
    return None


def _problem(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str | None:
    """What makes a parsed synset file unusable (wrong dtype or shape, NaN, labels out of range,
    broken metadata), or ``None``: a damaged set is refused, never evaluated."""
    for key, kind, default in (
        ("classes", list, None),
        ("mean", list, None),
        ("std", list, None),
        ("meta", dict, "{}"),
    ):
        problem = _json_problem(metadata, key, kind, default)
        if problem:
            return problem
    classes, mean, std = (json.loads(metadata[k]) for k in ("classes", "mean", "std"))
    numbers = all(isinstance(v, int | float) and math.isfinite(v) for v in mean + std)
    if not all(isinstance(c, str) for c in classes) or len(std) != len(mean) or not numbers:
        return "its metadata 'classes', 'mean' or 'std' is malformed"
    if any(s <= 0 for s in std):
        return "its metadata 'std' is not positive"
    for key in ("images", "labels"):
        if key not in tensors:
            return f"it has no {key!r} tensor"
    images, labels = tensors["images"], tensors["labels"]
    problem = tensor_problem("images", images, dtype=torch.float32, shape=(None, len(mean), None, None))
    problem = problem or tensor_problem("labels", labels, dtype=torch.int64, shape=(images.shape[0],))
    if problem:
        return problem
    if images.shape[-1] != images.shape[-2]:
        return f"'images' has shape {tuple(images.shape)}, not square"
    if labels.numel() == 0:
        return "it holds no images"
    if int(labels.min()) < 0 or int(labels.max()) >= len(classes):
        return f"'labels' span {int(labels.min())}..{int(labels.max())} but there are {len(classes)} classes"
    return nonfinite_problem({k: v for k, v in tensors.items() if k not in ("images", "labels")})
