"""``--walk-to K``: H-PD's walk through the generator's layers ("Hierarchical Features Matter",
Zhong et al., 2024), on a schedule fixed by the config.

The run starts at ``--layer k``, where the prior constrains the images most, and at evenly spaced
iterations carries the optimized feature maps one layer deeper (:meth:`LatentSet.advance_layer`:
the images do not change at the hand-over), up to layer ``K``: ``K - k + 1`` stages of equal length.
The early stages shape the images on the prior's manifold; the later ones refine them with the
freedom of a larger feature map.

Not taken from H-PD: its choice, at each layer, of the iterate with the lowest objective loss.  DM
draws a new random network every iteration, so its loss compares networks more than iterates; a
fixed schedule also keeps a run resumable from any checkpoint (the layer follows the iteration).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from ..config import DistillConfig
from ..synth.base import SyntheticSet
from ..synth.latent import LatentSet

log = logging.getLogger("latentdd.engine")


def layer_at(cfg: DistillConfig, iteration: int) -> int:
    """The layer iteration ``iteration`` (0-based) optimizes: ``cfg.layer`` without a walk."""
    start = int(cfg.layer)
    if cfg.walk_to is None or cfg.iterations <= 0:
        return start
    stages = cfg.walk_to - start + 1
    return start + min(stages - 1, iteration * stages // cfg.iterations)


def follow_walk(
    cfg: DistillConfig,
    synset: SyntheticSet,
    optimizer: torch.optim.Optimizer,
    iteration: int,
    before: Callable[[], object] | None = None,
) -> None:
    """Advance ``synset`` to the layer of ``iteration`` and point the optimizer's feature-map group
    at the new feature map (its momentum starts afresh: it belonged to another space).  ``before``
    runs first when there is a hand-over (the blow-up guard's check: never carry a blown-up set)."""
    if cfg.walk_to is None or not isinstance(synset, LatentSet):
        return  # no walk (and ``cfg.layer`` may be "auto" or unused by pixels): nothing to follow
    target = layer_at(cfg, iteration)
    if synset.layer >= target:
        return
    if before is not None:
        before()
    while synset.layer < target:
        old = synset.f
        synset.advance_layer()
        for group in optimizer.param_groups:
            if group.get("name") == "feature_map":
                optimizer.state.pop(old, None)
                group["params"] = [synset.f]
    log.info("--walk-to: iteration %d continues at layer %d", iteration, target)


def shape_as_saved(
    cfg: DistillConfig, synset: SyntheticSet, optimizer: torch.optim.Optimizer
) -> Callable[[int], None]:
    """``load_checkpoint``'s ``prepare``: move the set to the layer it was at when a checkpoint of
    ``done`` iterations was written (``--walk-to`` moves it deeper as a run goes)."""
    return lambda done: follow_walk(cfg, synset, optimizer, max(0, done - 1))
