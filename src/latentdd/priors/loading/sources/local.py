"""The schemes latentdd serves itself: ``random`` (an untrained built-in architecture),
``builtin:NAME`` (a prior file shipped in the package) and ``file`` (any latentdd prior file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ....errors import UserError
from ...base import Prior
from ...models.random_prior import RANDOM_ARCH, make_random_prior
from ..io import load_prior
from .base import PriorRequest, register_source

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "builtin"


def builtin_file(name: str) -> Path:
    """Where the shipped prior ``builtin:NAME`` lives (it may not exist)."""
    return BUILTIN_DIR / f"{name}.safetensors"


def builtin_priors() -> list[str]:
    """Names usable as ``builtin:NAME``."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.safetensors")) if BUILTIN_DIR.is_dir() else []


@register_source("random")
def _random(rest: str, req: PriorRequest) -> tuple[Prior, dict[str, Any]]:
    arch = rest or RANDOM_ARCH  # random:sgen -> a random-weight sgen
    prior = make_random_prior(req.num_classes, req.channels, req.image_size, req.seed, arch=arch).to(
        req.device
    )
    return prior, {"source": "random", "arch": arch, "seed": req.seed, "config": prior.config()}


@register_source("builtin")
def _builtin(name: str, req: PriorRequest) -> tuple[Prior, dict[str, Any]]:
    path = builtin_file(name)
    if not path.is_file():
        known = ", ".join(builtin_priors()) or "none are installed"
        raise UserError(f"no built-in prior {name!r} (available: {known}); pass a prior file or 'random'")
    return load_prior(path, device=req.device)


@register_source("file")
def _file(path: str, req: PriorRequest) -> tuple[Prior, dict[str, Any]]:
    return load_prior(Path(path), device=req.device)
