"""The step loop: one iteration (decode, objective loss, gradient back into the set, step) and the
iterations between checkpoints.  Shared by the distillation loop and the validation runs that choose
the prior layer (:mod:`latentdd.engine.layer_auto`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm

from .. import distributed
from ..config import DistillConfig
from ..objectives import Objective, RealSampler
from ..synth.base import SyntheticSet
from .blowups import BlowupGuard
from .walk import follow_walk


def distill_step(
    synset: SyntheticSet,
    objective: Objective,
    sampler: RealSampler,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    guard: BlowupGuard | None = None,
    iteration: int = 0,
) -> float:
    """One iteration: decode pixels, objective loss, pixel gradient back into the set, step.

    With a ``guard``, a non-finite loss or gradient skips the update and a set that the previous
    update made non-finite is restored first (:mod:`latentdd.engine.blowups`)."""
    images = synset.decode()
    if guard is not None and guard.check_last_update(images):
        images = synset.decode()
    images.requires_grad_(True)
    optimizer.zero_grad(set_to_none=True)
    loss = objective.loss(sampler, images, synset.labels, generator)
    # backward() rather than autograd.grad(loss, images): objectives with learnable
    # tensors of their own (MTT's learning rate) get their gradients in the same pass.
    loss.backward()
    # under torchrun each rank matched its own classes: the summed gradient is every class's
    grad = distributed.all_reduce_sum_(images.grad)
    total = float(distributed.all_reduce_sum_(loss.detach().clone()))
    if guard is not None:
        blown = "loss" if not math.isfinite(total) else None if torch.isfinite(grad).all() else "gradient"
        if blown:
            optimizer.zero_grad(set_to_none=True)
            objective.discard_step()
            guard.record(iteration, blown)
            return total
        guard.snapshot(iteration)
    synset.backward(grad)
    optimizer.step()
    synset.after_step()
    objective.after_step(synset.decode, synset.labels, generator)
    return total


def make_optimizer(cfg: DistillConfig, synset: SyntheticSet) -> torch.optim.Optimizer:
    """SGD with momentum on the set's parameter groups (each with its published learning rate)."""
    return torch.optim.SGD(synset.param_groups(cfg), lr=cfg.lr_img, momentum=cfg.momentum)


def run_iterations(
    cfg: DistillConfig,
    synset: SyntheticSet,
    objective: Objective,
    sampler: RealSampler,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    state: dict[str, Any],
    progress: bool,
    on_checkpoint: Callable[[], None] | None = None,
    desc: str | None = None,
) -> None:
    """Iterate from ``state["iteration"]`` to ``cfg.iterations``, keeping ``state`` (losses, seconds)
    current and calling ``on_checkpoint`` every ``cfg.checkpoint_every`` iterations."""
    bar = tqdm(
        range(state["iteration"], cfg.iterations),
        initial=state["iteration"],
        total=cfg.iterations,
        desc=desc or f"{cfg.method}/{cfg.space}",
        disable=not (progress and distributed.is_main()),
        dynamic_ncols=True,
        leave=desc is None,
    )
    started = time.perf_counter() - state["seconds"]
    guard = BlowupGuard(synset, optimizer, state)
    times = state.setdefault("iteration_seconds", [])  # per iteration: the first pays for compiling
    for it in bar:
        # --walk-to: a layer deeper at the schedule's hand-overs (never carrying a blown-up set)
        follow_walk(cfg, synset, optimizer, it, before=guard.check_last_update)
        began = time.perf_counter()
        loss = distill_step(synset, objective, sampler, optimizer, generator, guard, it)
        state["losses"].append(loss if math.isfinite(loss) else None)  # JSON has no NaN
        bar.set_postfix(loss=f"{loss:.4g}")
        state["iteration"] = it + 1
        times.append(round(time.perf_counter() - began, 4))
        state["seconds"] = time.perf_counter() - started
        if on_checkpoint and cfg.checkpoint_every and state["iteration"] % cfg.checkpoint_every == 0:
            guard.check_last_update()  # a checkpoint never holds a set that has blown up
            on_checkpoint()
    guard.check_last_update()  # nor does the result
    bar.close()
    state["seconds"] = time.perf_counter() - started
