"""One epoch of plain classification training, shared by every place that trains a network: the
evaluation of a synthetic set, MTT's experts and DC's inner loop.  Each keeps its own epoch loop
(learning-rate schedule, checkpoints, trajectories) around this one."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

#: ``augment(batch, generator) -> batch`` (a DSA with fresh per-sample draws), or None
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
#: ``forward(net, batch) -> logits``: ``net(batch)``, or a compiled version of it
Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def train_epoch(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    order_gen: torch.Generator,
    augment: Augment | None = None,
    aug_gen: torch.Generator | None = None,
    forward: Forward | None = None,
) -> None:
    """Shuffle with ``order_gen`` (on the CPU: the same order on every device), then for each batch:
    augment (with ``aug_gen``, default ``order_gen``), cross-entropy, SGD step.  ``labels`` are class
    indices or soft-label distributions.  ``forward`` replaces ``net(batch)`` (e.g. a compiled
    version of it, :mod:`latentdd.evaluate.speed`)."""
    order = torch.randperm(images.shape[0], generator=order_gen).to(images.device)
    for start in range(0, images.shape[0], batch_size):
        idx = order[start : start + batch_size]
        xb = images[idx]
        if augment is not None:
            xb = augment(xb, order_gen if aug_gen is None else aug_gen)
        logits = net(xb) if forward is None else forward(net, xb)
        loss = F.cross_entropy(logits, labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def training_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, order_gen: torch.Generator, aug_gen: torch.Generator
) -> dict:
    """What a training loop of :func:`train_epoch` needs to continue bit for bit after a kill: the network,
    the optimizer, the batch-order and augmentation streams and the global stream (custom models may
    draw from it, e.g. dropout)."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "order_gen": order_gen.get_state(),
        "aug_gen": aug_gen.get_state(),
        "global_rng": torch.get_rng_state(),
    }


def restore_training(
    state: dict,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    order_gen: torch.Generator,
    aug_gen: torch.Generator,
) -> None:
    """Undo :func:`training_state` into fresh objects of the same settings."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    order_gen.set_state(state["order_gen"])
    aug_gen.set_state(state["aug_gen"])
    torch.set_rng_state(state["global_rng"])
