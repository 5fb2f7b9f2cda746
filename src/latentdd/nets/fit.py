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
