"""Evaluate a synthetic set across architectures and runs; build ``metrics.json``.

The returned dict has the fixed shape of DESIGN.md's ``metrics.json`` (accuracies in
percent) plus a few extra keys (``per_class``, ``train_seconds``, ``lr``, ...).  The
std over runs is the *population* std (``np.std``, ddof=0), as in the DC/DSA/DM/MTT
reference code, so figures compare with the published tables.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import distributed
from ..data.dataset import ImageDataset
from ..data.transforms import content_hash
from ..nets.convnet import key_kwargs
from .protocols import EvalProtocol, get_protocol
from .run_cache import NetworksInProgress, RunCache, describe_test_set, protocol_training_settings
from .speed import PLAIN, check_fast_mode, choose_fast_path
from .train import ModelFactory, RunResult, train_and_test

if TYPE_CHECKING:
    from ..augment import DSA

#: Seconds between looks at a network that another process is training.
CLAIM_POLL_SECONDS = 15.0

#: Gives the training set of one run from that run's seed (a synthetic set ignores the seed,
#: the random-real baseline draws a new subset per run).
SetForRun = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


def summarize(runs: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "runs"}`` of per-run accuracies; std is the population std (np.std)."""
    values = [float(v) for v in runs]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {"mean": mean, "std": std, "runs": values}


def cross_arch_mean(accuracy: dict[str, dict[str, Any]], distill_model: str | None) -> float | None:
    """Mean accuracy over the architectures other than the one used to distill (DESIGN.md's
    ``cross_arch_mean``); None when no other architecture was evaluated."""
    others = [block["mean"] for m, block in accuracy.items() if m != distill_model]
    return sum(others) / len(others) if others else None


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def mean_per_class(rows: Sequence[Sequence[float | None]]) -> list[float | None]:
    """Column means of per-class accuracy rows, one row per run (``None`` for a class absent
    from the test set)."""
    return [_mean_or_none(col) for col in zip(*rows, strict=True)]


def per_class_means(results: Sequence[RunResult]) -> list[float | None]:
    """Per-class test accuracy averaged over runs."""
    return mean_per_class([r.per_class for r in results])


def describe_augmentation(dsa: DSA | None) -> str:
    """The DSA families actually applied (``digits`` sets lack ``flip``), or ``"none"``."""
    if dsa is None or not getattr(dsa, "enabled", True):
        return "none"
    families = getattr(dsa, "families", None)
    return "_".join(families) if families else type(dsa).__name__


def resolve_protocol(protocol: EvalProtocol | str) -> EvalProtocol:
    return get_protocol(protocol) if isinstance(protocol, str) else protocol


def run_models(
    set_for_run: SetForRun,
    test: ImageDataset,
    *,
    models: Sequence[str],
    protocol: EvalProtocol,
    seed: int,
    dsa: DSA | None,
    device: torch.device | str,
    lr: float | None,
    progress: bool,
    model_kwargs: Mapping[str, dict[str, Any]] | None = None,
    model_factory: ModelFactory | None = None,
    desc: str = "evaluate",
    cache: RunCache | None = None,
    wait_for_others: bool = True,
    fast: str = "off",
) -> dict[str, list[RunResult]]:
    """Train and test every (model, run) pair; run ``r`` uses seed ``seed + r`` for every model.

    With ``cache``, a pair already finished under the same settings is read back instead
    of trained, and each newly trained pair is stored the moment it ends (resume after a kill).
    A pair that another process is training (its claim is held) is skipped and collected at
    the end: waited for, or -- ``wait_for_others=False`` -- reported by raising
    :class:`NetworksInProgress`, so a caller with other work can come back later.
    The key cannot see inside a custom ``model_factory``: give each factory its own cache.
    ``fast`` (``auto``/``off``/``compile``) picks each architecture's training path
    (:func:`latentdd.evaluate.speed.choose_fast_path`); a network trained on a fast path has that
    path in its cache key, a plain one the key plain networks always had.
    """
    check_fast_mode(fast)
    pairs = [(m, r) for m in models for r in range(protocol.runs)]
    mine = distributed.shard(pairs)  # under torchrun each rank trains its share; one process: all
    # what every run shares goes into each run's cache key (hashing the test set once)
    context = (
        {}
        if cache is None
        else {
            "protocol": protocol_training_settings(protocol),
            "lr": lr,
            "augmentation": describe_augmentation(dsa),
            "test": describe_test_set(test),
            "device": torch.device(device).type,
        }
    )
    bar = None
    if progress and distributed.is_main():
        from tqdm.auto import tqdm

        bar = tqdm(total=len(mine), desc=desc, unit="run")
    done: dict[tuple[str, int], RunResult] = {}
    reused = 0

    def train(
        model: str,
        run: int,
        images: torch.Tensor,
        labels: torch.Tensor,
        fast_path: str,
        checkpoint: Path | None = None,
    ) -> RunResult:
        if bar is not None:
            bar.set_postfix_str(f"{model} run {run + 1}/{protocol.runs}")
        return train_and_test(
            model,
            images,
            labels,
            test,
            protocol=protocol,
            seed=seed + run,
            dsa=dsa,
            device=device,
            lr=lr,
            model_kwargs=(model_kwargs or {}).get(model),
            model_factory=model_factory,
            checkpoint=checkpoint,
            fast_path=fast_path,
        )

    def attempt(model: str, run: int) -> bool:
        """Finish one pair (read back, or claim and train); ``False`` if another process holds it."""
        nonlocal reused
        images, labels = set_for_run(seed + run)
        path = choose_fast_path(fast, model, images.shape[0] * protocol.epochs, device)
        if cache is None:
            done[model, run] = train(model, run, images, labels, path)
        else:
            key = cache.key(
                context,
                model,
                seed + run,
                content_hash(images, labels),
                key_kwargs(model, tuple(test.image_size), (model_kwargs or {}).get(model)),
            )
            if path != PLAIN:  # plain networks keep the key they always had
                key["fast_path"] = path
            result = cache.get(key)
            if result is not None:
                reused += 1
            else:
                result = cache.fetch_or_train(
                    key, lambda partial: train(model, run, images, labels, path, partial)
                )
                if result is None:
                    return False
            done[model, run] = result
        if bar is not None:
            bar.update(1)
        return True

    try:
        waiting = [pair for pair in mine if not attempt(*pair)]
        held_elsewhere = sum(distributed.all_gather_object(len(waiting)))  # every rank decides alike
        if held_elsewhere and not wait_for_others:
            raise NetworksInProgress(held_elsewhere, cache.root if cache is not None else None)
        if waiting and bar is not None:
            names = ", ".join(f"{m} run {r + 1}" for m, r in waiting)
            bar.set_postfix_str(f"waiting for another process: {names}")
        while waiting:  # claimed elsewhere: wait for those results (or train them if that process died)
            time.sleep(CLAIM_POLL_SECONDS)
            waiting = [pair for pair in waiting if not attempt(*pair)]
    finally:
        if bar is not None:
            bar.close()
    for part in distributed.all_gather_object(done):  # every rank ends with every result
        done.update(part)
    if cache is not None and reused and progress and distributed.is_main():
        print(
            f"{desc}: {reused} of {len(pairs)} run(s) were already finished in {cache.root}; reused them "
            "(pass --fresh to train them again)"
        )
    return {m: [done[m, r] for r in range(protocol.runs)] for m in models}


def evaluate_synset(
    images: torch.Tensor,
    labels: torch.Tensor,
    test: ImageDataset,
    *,
    models: Sequence[str] | None = None,
    protocol: EvalProtocol | str,
    seed: int = 0,
    dsa: DSA | None = None,
    device: torch.device | str = "cpu",
    distill_model: str = "convnet",
    lr: float | None = None,
    progress: bool = True,
    baseline: dict[str, Any] | None = None,
    model_kwargs: Mapping[str, dict[str, Any]] | None = None,
    model_factory: ModelFactory | None = None,
    cache: RunCache | None = None,
    wait_for_others: bool = True,
    fast: str = "off",
) -> dict[str, Any]:
    """Train ``protocol.runs`` fresh networks of each of ``models`` (default
    ``protocol.models``) on the synthetic set and return the ``metrics.json`` dict.

    ``lr`` is the synthetic set's learned learning rate (MTT); it is used only when
    ``protocol.use_learned_lr`` -- to force a rate, override the protocol's ``lr``.
    ``distill_model`` is excluded from ``cross_arch_mean``.  ``baseline`` (from
    :func:`evaluate_random_baseline`) is stored as ``baseline_random_real``.
    ``model_kwargs`` maps a model name to constructor arguments.  With ``progress`` a
    bar runs over (model, run) pairs and the table is printed at the end.  ``cache``
    keeps finished runs (see :class:`~latentdd.evaluate.run_cache.RunCache`).  ``fast``:
    see :func:`run_models`; ``metrics["fast_paths"]`` names each architecture's path if not plain.
    """
    protocol = resolve_protocol(protocol)
    models = [m.lower() for m in (models or protocol.models)]
    distill_model = distill_model.lower()
    used_lr = float(lr) if (protocol.use_learned_lr and lr is not None) else protocol.lr
    results = run_models(
        lambda _seed: (images, labels),
        test,
        models=models,
        protocol=protocol,
        seed=seed,
        dsa=dsa,
        device=device,
        lr=used_lr,
        progress=progress,
        model_kwargs=model_kwargs,
        model_factory=model_factory,
        cache=cache,
        wait_for_others=wait_for_others,
        fast=fast,
    )
    accuracy = {m: summarize([r.accuracy for r in rs]) for m, rs in results.items()}
    metrics: dict[str, Any] = {
        "protocol": protocol.name,
        "seeds": [seed + run for run in range(protocol.runs)],
        "epochs": protocol.epochs,
        "runs": protocol.runs,
        "lr": used_lr,
        "augmentation": describe_augmentation(dsa),
        "distill_model": distill_model,
        "accuracy": accuracy,
        "cross_arch_mean": cross_arch_mean(accuracy, distill_model),
        "per_class": {m: per_class_means(rs) for m, rs in results.items()},
        "train_seconds": {m: sum(r.train_seconds for r in rs) / len(rs) for m, rs in results.items()},
        "fast_paths": {m: rs[0].fast_path for m, rs in results.items() if rs[0].fast_path != PLAIN},
    }
    if baseline is not None:
        metrics["baseline_random_real"] = baseline
    if progress and distributed.is_main():
        print(format_table(metrics))
    return metrics


def _pm(block: dict[str, Any] | None) -> str:
    return f"{block['mean']:6.2f} ± {block['std']:5.2f}" if block else "-"


def format_table(metrics: dict[str, Any]) -> str:
    """A terminal table of a ``metrics.json`` dict: one row per architecture."""
    baseline = metrics.get("baseline_random_real") or {}
    seconds = metrics.get("train_seconds", {})
    distill = metrics.get("distill_model")
    header = ["model", "accuracy %", "random real %", "train s/run"]
    rows = [
        [
            m + (" *" if m == distill else ""),
            _pm(block),
            _pm(baseline.get(m)),
            f"{seconds[m]:.1f}" if m in seconds else "-",
        ]
        for m, block in metrics["accuracy"].items()
    ]
    if not baseline:
        header.pop(2)
        for row in rows:
            row.pop(2)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    seeds = ", ".join(str(s) for s in metrics.get("seeds", []))
    out = [
        f"protocol {metrics['protocol']}: {metrics.get('epochs')} epochs, "
        f"{len(metrics.get('seeds', []))} run(s), seeds {seeds}",
        line(header),
        line(["-" * w for w in widths]),
        *(line(r) for r in rows),
    ]
    cross = metrics.get("cross_arch_mean")
    if cross is not None:
        excluded = f" (excluding {distill} *, the distillation model)" if distill else ""
        out.append(f"cross-architecture mean{excluded}: {cross:.2f}")
    return "\n".join(out)
