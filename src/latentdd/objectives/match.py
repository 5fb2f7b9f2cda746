"""Gradient distances of gradient matching (DC, Zhao et al. ICLR 2021), by name.

``--dis-metric`` picks one; each takes the synthetic and the real gradients as lists of
tensors in ``net.parameters()`` order and returns a scalar.  The semantics are those of
the reference ``match_loss`` (VICO-UoE/DatasetCondensation ``utils.py``), including its
``1e-6`` in the cosine denominators:

- ``ours``: per parameter tensor, reshape to ``[out, -1]`` (first dimension = output
  channels / units) and sum over rows of ``1 - cos(real_row, syn_row)``; 1-D tensors
  (biases, norm scales) are ignored, as in the reference ``distance_wb``.
- ``mse``: squared Euclidean distance of the concatenation of *all* gradients.
- ``cos``: ``1 - cos`` of the concatenation of *all* gradients.

Each function also accepts gradients with a leading class dimension (``[K, *shape]``
per parameter) and then returns ``[K]`` distances, one per class -- the objective
computes all classes' gradients at once and sums these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..registry import Registry

Distance = Callable[[Sequence[torch.Tensor], Sequence[torch.Tensor], int], torch.Tensor]

DISTANCES: Registry[torch.Tensor] = Registry("gradient distance (--dis-metric)")

_EPS = 1e-6  # the reference's guard in every cosine denominator


def _rowwise_one_minus_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    dot = (a * b).sum(-1)
    return 1 - dot / (a.norm(dim=-1) * b.norm(dim=-1) + _EPS)


@DISTANCES.register("ours")
def layerwise_distance(
    syn: Sequence[torch.Tensor], real: Sequence[torch.Tensor], batch_dims: int = 0
) -> torch.Tensor:
    """DC's distance: sum over parameter tensors and output rows of ``1 - cos``.

    ``batch_dims`` leading dimensions (0 or 1: classes) are kept in the result."""
    total = None
    for gs, gr in zip(syn, real, strict=True):
        shape = gr.shape[batch_dims:]
        if len(shape) <= 1:  # bias / norm weight: ignored by the reference distance_wb
            continue
        lead = gr.shape[:batch_dims]
        d = _rowwise_one_minus_cos(gs.reshape(*lead, shape[0], -1), gr.reshape(*lead, shape[0], -1)).sum(-1)
        total = d if total is None else total + d
    if total is None:  # a network with only 1-D parameters has nothing to match
        lead = real[0].shape[:batch_dims] if real else ()
        return torch.zeros(lead, device=real[0].device if real else None)
    return total


def _flat(grads: Sequence[torch.Tensor], batch_dims: int) -> torch.Tensor:
    return torch.cat([g.reshape(*g.shape[:batch_dims], -1) for g in grads], dim=-1)


@DISTANCES.register("mse")
def mse_distance(
    syn: Sequence[torch.Tensor], real: Sequence[torch.Tensor], batch_dims: int = 0
) -> torch.Tensor:
    """Sum of squared differences over all gradients (1-D ones included, as the reference)."""
    return ((_flat(syn, batch_dims) - _flat(real, batch_dims)) ** 2).sum(-1)


@DISTANCES.register("cos")
def cosine_distance(
    syn: Sequence[torch.Tensor], real: Sequence[torch.Tensor], batch_dims: int = 0
) -> torch.Tensor:
    """``1 - cos`` between the concatenated gradient vectors (1-D ones included)."""
    return _rowwise_one_minus_cos(_flat(real, batch_dims), _flat(syn, batch_dims))


def gradient_distance(name: str) -> Distance:
    """The distance registered as ``name``; unknown names are a UserError listing the choices."""
    return DISTANCES.get(name)
