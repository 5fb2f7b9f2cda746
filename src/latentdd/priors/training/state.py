"""Resumable training state shared by the prior trainers (GAN and autoencoder).

A checkpoint holds the settings it was made with (a resume with other settings is refused, so a
changed recipe never silently continues an old run), the step, elapsed seconds, the last losses,
the state of every named part (networks, optimizers) and the sampling generator.  Written
atomically, read with ``weights_only=True``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import torch

from ...errors import UserError
from ...fileio import atomic_write
from ...loadcheck import error_detail, nonfinite_problem, optimizer_problem, state_problem, torch_load

CHECKPOINT_VERSION = 1


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


class GeneratorState:
    """A ``torch.Generator`` seen as a checkpointable part (its state as a tensor)."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def state_dict(self) -> dict[str, Any]:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["state"])


def save_training_state(
    path: Path,
    settings: dict[str, Any],
    step: int,
    seconds: float,
    losses: dict[str, float],
    parts: dict[str, Stateful],
    rng: torch.Generator,
) -> None:
    state = {
        "version": CHECKPOINT_VERSION,
        "settings": json.dumps(settings, sort_keys=True),
        "step": step,
        "elapsed": seconds,
        "rng": rng.get_state(),
        "losses": json.dumps(losses),
        **{name: part.state_dict() for name, part in parts.items()},
    }
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def resume_training_state(
    path: Path, settings: dict[str, Any], parts: dict[str, Stateful], rng: torch.Generator
) -> tuple[int, float, dict[str, float]]:
    """Load a checkpoint made with identical settings; return (step, elapsed seconds, last losses)."""
    fix = "delete it to start over"
    state = torch_load(path, "checkpoint", fix)
    try:
        stored = json.loads(state["settings"])
        step, elapsed, losses = int(state["step"]), float(state["elapsed"]), json.loads(state["losses"])
    except (TypeError, KeyError, ValueError, IndexError):
        raise UserError(f"checkpoint {path} is not a latentdd prior-training checkpoint; {fix}") from None
    if not isinstance(stored, dict) or not isinstance(losses, dict):
        raise UserError(f"checkpoint {path} is not a latentdd prior-training checkpoint; {fix}")
    if stored != settings:
        diff = sorted(k for k in set(settings) | set(stored) if stored.get(k) != settings.get(k))
        raise UserError(
            f"checkpoint {path} was made with different settings ({', '.join(diff)}); "
            "delete it to start over, or choose another --out"
        )
    problem = nonfinite_problem({name: state.get(name) for name in parts})
    for name, part in parts.items():
        if problem:
            break
        if isinstance(part, torch.nn.Module):  # networks: every tensor's name, shape and dtype
            problem = state_problem(state.get(name), part.state_dict())
        elif isinstance(part, torch.optim.Optimizer):  # optimizers: per-parameter state's shape
            problem = optimizer_problem(state.get(name), part)
        problem = problem and f"{name}: {problem}"
    if problem:
        raise UserError(f"checkpoint {path} is damaged: {problem}; {fix}")
    try:
        for name, part in parts.items():
            part.load_state_dict(state[name])
        rng.set_state(state["rng"])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as e:
        raise UserError(f"checkpoint {path} does not fit this training ({error_detail(e)}); {fix}") from None
    return step, elapsed, losses
