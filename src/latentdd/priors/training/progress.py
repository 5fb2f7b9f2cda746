"""What every prior trainer does around its own step: resume, progress bar, checkpoints, grids, scores.

The GAN and the autoencoder trainers differ in their step and in the picture they draw while
training; everything else -- picking up the checkpoint, the bar, refusing a diverged step, writing
the checkpoint every ``checkpoint_every`` steps and the progress grid (with the monitor's scores)
every ``grid_every`` -- lives here once, so both resume, checkpoint and log alike.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ... import distributed
from ...errors import UserError
from ...fileio import atomic_write_text
from ..base import Prior
from .state import Stateful, resume_training_state, save_training_state

#: ``monitor(step, frozen_prior_snapshot) -> scores``: called every ``grid_every`` steps
Monitor = Callable[[int, Prior], dict[str, Any]]


def checkpoint_path(out: str | os.PathLike) -> Path:
    return Path(out).with_suffix(".ckpt.pt")


def grid_path(out: str | os.PathLike) -> Path:
    return Path(out).with_suffix(".grid.png")


def scores_path(out: str | os.PathLike) -> Path:
    return Path(out).with_suffix(".scores.jsonl")


def log_scores(out: str | os.PathLike | None, step: int, scores: dict[str, Any]) -> None:
    """Append one line of periodic prior scores beside the prior file (and say it on the console)."""
    line = json.dumps({"step": step, **scores}, sort_keys=True)
    tqdm.write(f"step {step}: " + ", ".join(f"{k} {v:.3g}" for k, v in summary_of(scores).items()))
    if out is not None:
        path = scores_path(out)
        previous = path.read_text() if path.is_file() else ""
        atomic_write_text(path, previous + line + "\n")


def summary_of(scores: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of a score record (what the progress log prints)."""
    out = {
        "frechet": scores.get("frechet_distance"),
        "diversity_ratio": (scores.get("diversity") or {}).get("ratio"),
        "saturated": (scores.get("saturation") or {}).get("generated"),
        "cas_ratio": (scores.get("cas") or {}).get("ratio"),
    }
    return {k: float(v) for k, v in out.items() if v is not None}


class TrainingProgress:
    """One prior-training run's bookkeeping; iterate :meth:`steps`, call :meth:`after_step` after each.

    ``draw_grid()`` writes the run's progress picture and returns the frozen snapshot the monitor
    scores (called on the main process only, every ``grid_every`` steps before the last).
    """

    def __init__(
        self,
        *,
        what: str,
        out: str | os.PathLike | None,
        total: int,
        settings: dict[str, Any],
        parts: dict[str, Stateful],
        rng: torch.Generator,
        losses: dict[str, float],
        checkpoint_every: int,
        grid_every: int,
        progress: bool,
        monitor: Monitor | None,
        draw_grid: Callable[[], Prior],
    ) -> None:
        self.what, self.out, self.total = what, out, total
        self.settings, self.parts, self.rng = settings, parts, rng
        self.checkpoint_every, self.grid_every = checkpoint_every, grid_every
        self.monitor, self.draw_grid = monitor, draw_grid
        self.ckpt: Path | None = checkpoint_path(out) if out is not None else None
        self.start, elapsed, self.losses = 0, 0.0, losses
        if self.ckpt is not None and self.ckpt.exists():
            self.start, elapsed, self.losses = resume_training_state(self.ckpt, settings, parts, rng)
        self.t0 = time.perf_counter() - elapsed
        self.bar = tqdm(
            total=total,
            initial=self.start,
            desc=what,
            disable=not (progress and distributed.is_main()),
            dynamic_ncols=True,
        )

    def steps(self) -> range:
        return range(self.start, self.total)

    def after_step(self, step: int, losses: dict[str, float]) -> None:
        """Refuse a non-finite loss, move the bar, and on the main process write what is due."""
        self.losses = losses
        if not all(math.isfinite(v) for v in losses.values()):
            raise UserError(f"{self.what} training diverged at step {step + 1} (losses {losses}); lower --lr")
        done = step + 1
        self.bar.update(1)
        if step % 10 == 0 or done == self.total:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()})
        if not distributed.is_main():  # rank 0 alone writes checkpoints, grids and scores
            return
        if self.ckpt is not None and (done % self.checkpoint_every == 0 or done == self.total):
            save_training_state(self.ckpt, self.settings, done, self.seconds(), losses, self.parts, self.rng)
        if self.out is not None and done % self.grid_every == 0 and done < self.total:
            snapshot = self.draw_grid()
            if self.monitor is not None:
                log_scores(self.out, done, self.monitor(done, snapshot))

    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def finish(self) -> tuple[int, float]:
        """Close the bar; return (step of the weights, seconds of training including earlier runs)."""
        self.bar.close()
        return max(self.total, self.start), self.seconds()
