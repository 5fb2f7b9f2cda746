"""Numeric blow-ups: a NaN or Inf loss, gradient or synthetic set is rolled back, not written.

Any objective can diverge (a learning rate too large for a prior's feature scale, an unlucky
network, an overflow in a generator), and a single non-finite value poisons the synthetic set for
good.  The guard keeps a copy of the learnable tensors and the optimizer's state from before the
last update; when the loss or gradient is not finite the update is skipped, when the updated set
decodes to non-finite images the update is undone, and either way every learning rate is halved
and the event is counted (``distill.json``: ``blowups``).  After ``MAX_STREAK`` blow-ups in a row the
run stops with a message instead of writing a NaN set; checkpoints only ever hold a finite set.

All decisions are taken on values every rank shares (the all-reduced loss and gradient, the
replicated set), so under torchrun all ranks roll back together.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch

from ..errors import UserError
from ..synth.base import SyntheticSet

log = logging.getLogger("latentdd.engine")

MAX_STREAK = 5  # blow-ups in a row before the run stops (the learning rates are then 1/32 of the start)
LR_FACTOR = 0.5  # each blow-up halves every learning rate


class BlowupGuard:
    """Detect, roll back and count non-finite steps of one distillation."""

    def __init__(self, synset: SyntheticSet, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
        self.synset = synset
        self.optimizer = optimizer
        self.state = state  # the run's resumable state: the events and the streak live (and resume) there
        state.setdefault("blowups", [])
        state.setdefault("blowup_streak", 0)
        self._saved: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None
        self._saved_iteration = -1
        self._unconfirmed = False  # an update was applied and its set not checked yet

    def _learnables(self) -> dict[str, torch.nn.Parameter]:
        return {n: p for n, p in self.synset.named_parameters() if p.requires_grad}

    def snapshot(self, iteration: int) -> None:
        """Remember the set and the optimizer as they are before ``iteration``'s update."""
        tensors = {n: p.detach().clone() for n, p in self._learnables().items()}
        self._saved = (tensors, copy.deepcopy(self.optimizer.state_dict()))
        self._saved_iteration = iteration
        self._unconfirmed = True

    def set_is_finite(self, images: torch.Tensor | None = None) -> bool:
        """Whether the set (its decoded ``images``, decoded here if not given) holds only finite values."""
        if images is None:
            with torch.no_grad():
                images = self.synset.decode()
        return bool(torch.isfinite(images).all())

    def undo_last_update(self) -> None:
        """Put the set and the optimizer back as they were before the last update."""
        if self._saved is None:
            raise UserError(
                "the synthetic set holds NaN or Inf values and there is no earlier state to return to; "
                "start a new run with a lower --lr-img / --lr-feat"
            )
        tensors, optimizer_state = self._saved
        with torch.no_grad():
            for name, p in self._learnables().items():
                p.copy_(tensors[name])
        self.optimizer.load_state_dict(optimizer_state)
        self.record(self._saved_iteration, "update")

    def record(self, iteration: int, what: str) -> None:
        """Count a blow-up at ``iteration`` (``what``: loss, gradient or update), halve the learning
        rates, and stop the run after ``MAX_STREAK`` in a row."""
        for group in self.optimizer.param_groups:
            group["lr"] *= LR_FACTOR
        self.state["blowup_streak"] += 1
        self.state["blowups"].append({"iteration": iteration, "what": what})
        streak = self.state["blowup_streak"]
        rates = ", ".join(f"{g['lr']:.3g}" for g in self.optimizer.param_groups)
        log.warning(
            "iteration %d: the %s is not finite; the update was rolled back and the learning rates halved (now %s)",
            iteration,
            what,
            rates,
        )
        if streak >= MAX_STREAK:
            raise UserError(
                f"distillation diverged: the {what} was not finite {streak} iterations in a row (last at "
                f"iteration {iteration}) even with learning rates cut to {LR_FACTOR**streak:g} of their start; "
                "nothing was written but the last checkpoint: start again with a lower --lr-img / --lr-feat"
            )

    def check_last_update(self, images: torch.Tensor | None = None) -> bool:
        """Confirm the last update (its set decodes to finite ``images``; this ends a streak) or undo
        it.  Returns whether the set had to be restored (then ``images`` are stale).  A skipped
        update (non-finite loss or gradient) confirms nothing: its streak goes on."""
        if not self._unconfirmed:
            return False
        self._unconfirmed = False
        if self.set_is_finite(images):
            self.state["blowup_streak"] = 0
            return False
        self.undo_last_update()
        return True
