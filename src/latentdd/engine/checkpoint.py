"""Resumable state: learnable tensors, optimizer momentum, RNG state, loss curve.

Written atomically, so a kill during a save leaves the previous checkpoint intact; the
RNG state is restored too, so a resumed run gives the same synthetic set as an
uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..fileio import atomic_write
from ..objectives import Objective
from ..synth.base import SyntheticSet


def _learnables(synset: SyntheticSet) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in synset.named_parameters() if p.requires_grad}


def save_checkpoint(
    path: Path,
    state: dict[str, Any],
    synset: SyntheticSet,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    objective: Objective,
) -> None:
    payload = {
        "objective": objective.state_dict(),
        "state": state,
        "tensors": {n: p.detach().cpu() for n, p in _learnables(synset).items()},
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(
    path: Path,
    synset: SyntheticSet,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    objective: Objective,
) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise UserError(f"checkpoint {path} is corrupt; delete it to restart the run from scratch") from None
    params = _learnables(synset)
    if set(payload["tensors"]) != set(params):
        raise UserError(f"checkpoint {path} does not match this run's synthetic set; start a new run")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(payload["tensors"][name].to(p.device))
    optimizer.load_state_dict(payload["optimizer"])
    generator.set_state(payload["generator"])
    objective.load_state_dict(payload.get("objective", {}))
    return payload["state"]
