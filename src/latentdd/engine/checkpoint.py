"""Resumable state: learnable tensors, optimizer momentum, RNG state, loss curve.

Written atomically, so a kill during a save leaves the previous checkpoint intact; the
RNG state is restored too, so a resumed run gives the same synthetic set as an
uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..fileio import atomic_write
from ..loadcheck import error_detail, nonfinite_problem, optimizer_problem, tensor_problem, torch_load
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
    prepare: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Restore a run's state; ``prepare(iterations_done)`` first shapes the set as it was when the
    checkpoint was written (``--walk-to`` moves it to deeper layers as the run goes)."""
    payload = read_checkpoint(path)
    if prepare is not None:
        prepare(payload["state"]["iteration"])
    params = _learnables(synset)
    if set(payload["tensors"]) != set(params):
        raise UserError(f"checkpoint {path} does not match this run's synthetic set; start a new run")
    problems = [
        tensor_problem(n, payload["tensors"][n], dtype=p.dtype, shape=tuple(p.shape))
        for n, p in params.items()
    ]
    problem = next((p for p in problems if p), None) or optimizer_problem(payload["optimizer"], optimizer)
    if problem:
        raise UserError(f"checkpoint {path} is damaged: {problem}; delete it to restart the run from scratch")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(payload["tensors"][name].to(p.device))
    try:
        optimizer.load_state_dict(payload["optimizer"])
        generator.set_state(payload["generator"])
        objective.load_state_dict(payload["objective"])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as e:
        raise UserError(
            f"checkpoint {path} does not fit this run ({error_detail(e)}); delete it to restart the run from scratch"
        ) from None
    return payload["state"]


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's payload, checked for the parts every checkpoint has and for NaN or Inf values;
    a damaged, foreign or hostile file is a one-line :class:`UserError` naming it."""
    fix = "delete it to restart the run from scratch"
    payload = torch_load(path, "checkpoint", fix)
    parts = {"tensors": dict, "optimizer": dict, "state": dict, "objective": dict, "generator": torch.Tensor}
    if isinstance(payload, dict):
        payload.setdefault("objective", {})  # checkpoints from before objectives had state
    if not isinstance(payload, dict) or any(not isinstance(payload.get(k), t) for k, t in parts.items()):
        raise UserError(f"checkpoint {path} is not a latentdd distillation checkpoint; {fix}")
    state = payload["state"]
    if not isinstance(state.get("iteration"), int) or state["iteration"] < 0:
        raise UserError(f"checkpoint {path} is damaged: no iteration count; {fix}")
    problem = nonfinite_problem({k: payload[k] for k in ("tensors", "optimizer")})
    problem = problem or nonfinite_problem(payload["objective"], "objective", floats=True)
    if problem:
        raise UserError(f"checkpoint {path} is damaged: {problem}; {fix}")
    return payload
