"""Turn a ``--prior`` spec into a frozen prior that fits the dataset.

Specs: ``random`` (the built-in architecture with random weights, GLaD's ablation), a path to a
prior file, or ``builtin:NAME`` for a prior shipped inside the package (``priors/builtin/NAME.safetensors``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from .base import Prior
from .io import load_prior
from .random_prior import RANDOM_ARCH, make_random_prior

BUILTIN_DIR = Path(__file__).parent / "builtin"


def builtin_priors() -> list[str]:
    """Names usable as ``builtin:NAME``."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.safetensors")) if BUILTIN_DIR.is_dir() else []


def _builtin_path(name: str) -> Path:
    path = BUILTIN_DIR / f"{name}.safetensors"
    if not path.is_file():
        known = ", ".join(builtin_priors()) or "none are installed"
        raise UserError(f"no built-in prior {name!r} (available: {known}); pass a prior file or 'random'")
    return path


def resolve_prior(
    spec: str,
    *,
    num_classes: int,
    channels: int,
    image_size: int,
    seed: int,
    device: str | torch.device = "cpu",
) -> tuple[Prior, dict[str, Any]]:
    """Return ``(prior, record)`` for ``spec``; the prior must make images of the dataset's shape and classes."""
    if spec == "random":
        prior = make_random_prior(num_classes, channels, image_size, seed).to(device)
        record = {"source": "random", "arch": RANDOM_ARCH, "seed": seed, "config": prior.config()}
        return prior, record

    path = _builtin_path(spec.removeprefix("builtin:")) if spec.startswith("builtin:") else Path(spec)
    prior, record = load_prior(path, device=device)
    mismatches = [
        f"{what}: prior {have}, dataset {want}"
        for what, have, want in (
            ("classes", prior.num_classes, num_classes),
            ("channels", prior.image_channels, channels),
            ("image size", prior.image_size, image_size),
        )
        if have != want
    ]
    if mismatches:
        trained_on = record.get("dataset", "another dataset")
        raise UserError(
            f"prior {spec} (trained on {trained_on}) does not fit this dataset ({'; '.join(mismatches)}); "
            "train a prior on this dataset with `latentdd prior train` or use --prior random"
        )
    return prior, record
