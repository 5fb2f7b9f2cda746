"""The "random real" baseline: ``ipc`` real training images per class, drawn at random.

A distilled set is only worth its cost if it beats this, so the baseline is trained
under exactly the same protocol, models and seeds as the synthetic set.  Each run
draws its own subset (run ``r`` from ``make_generator(seed + r)``), so the spread over
runs includes the luck of the draw, as in the papers' baseline rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..data.dataset import ImageDataset
from ..seeding import make_generator
from .metrics import per_class_means, resolve_protocol, run_models, summarize
from .protocols import EvalProtocol
from .run_cache import RunCache
from .train import ModelFactory

if TYPE_CHECKING:
    from ..augment import DSA


def random_real_subset(
    train: ImageDataset, ipc: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``ipc`` distinct random images of every class (class-major) and their labels.

    Raises :class:`UserError` when a class has fewer than ``ipc`` images: sampling with
    replacement would quietly make the baseline a smaller set than it claims to be.
    """
    index = train.sample_per_class(int(ipc), generator, replace_if_short=False)
    return train.images[index], train.labels[index]


def evaluate_random_baseline(
    train: ImageDataset,
    test: ImageDataset,
    ipc: int,
    *,
    models: Sequence[str] | None = None,
    protocol: EvalProtocol | str,
    seed: int = 0,
    dsa: DSA | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    model_kwargs: Mapping[str, dict[str, Any]] | None = None,
    model_factory: ModelFactory | None = None,
    cache: RunCache | None = None,
    wait_for_others: bool = True,
    fast: str = "off",
) -> dict[str, dict[str, Any]]:
    """``{model: {"mean", "std", "runs", "per_class"}}`` for random real subsets of ``ipc`` images per
    class, trained like :func:`evaluate_synset` (same protocol, seeds, augmentation).

    The protocol's base ``lr`` is used even for MTT: a learned rate belongs to its
    synthetic set, not to real images.
    """
    protocol = resolve_protocol(protocol)
    models = [m.lower() for m in (models or protocol.models)]
    random_real_subset(train, ipc, make_generator(seed))  # fail before any training if ipc is too large
    results = run_models(
        lambda run_seed: random_real_subset(train, ipc, make_generator(run_seed)),
        test,
        models=models,
        protocol=protocol,
        seed=seed,
        dsa=dsa,
        device=device,
        lr=protocol.lr,
        progress=progress,
        model_kwargs=model_kwargs,
        model_factory=model_factory,
        desc=f"random real ({ipc}/class)",
        cache=cache,
        wait_for_others=wait_for_others,
        fast=fast,
    )
    # per_class lets the report compare distilled and random-real models class by class
    # when no full-data figures are cached.
    return {
        m: {**summarize([r.accuracy for r in rs]), "per_class": per_class_means(rs)}
        for m, rs in results.items()
    }
