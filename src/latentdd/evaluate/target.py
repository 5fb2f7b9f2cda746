"""Evaluate one target -- a run folder or a ``synset.safetensors`` file -- in this process: resolve the
protocol from the flags and the run's config, load and (for ZCA sets) whiten the data, train the
random-real baseline and the synthetic set's networks through the per-network caches, and write
``metrics.json``.  :func:`latentdd.api.evaluate` calls this directly or through helper processes
(:mod:`latentdd.evaluate.parallel`), which call it too.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .. import distributed
from ..augment import make_dsa
from ..config import DistillConfig
from ..data import load_dataset
from ..data.zca import whiten_for_evaluation
from ..device import resolve_device
from ..errors import UserError
from ..fileio import atomic_write_json
from ..paths import user_cache_dir
from ..runs import RunDir
from ..synth.io import SavedSynset, load_synset
from .baseline import evaluate_random_baseline
from .metrics import evaluate_synset
from .protocols import get_protocol
from .run_cache import NetworksInProgress, RunCache
from .speed import check_fast_mode


def locate_synset(target: str | Path) -> tuple[SavedSynset, RunDir | None, DistillConfig | None, Path]:
    """The synthetic set of a run folder or a ``synset.safetensors`` file, its run and config (if any),
    and where its ``metrics.json`` goes."""
    p = Path(target)
    if p.is_dir():
        run = RunDir.existing(p)
        synset_path = run.file(RunDir.SYNSET)
        if not synset_path.is_file():
            raise UserError(
                f"run {str(p)!r} has no synthetic set yet; finish it with `latentdd distill --resume {p}`"
            )
        return load_synset(synset_path), run, run.config(), metrics_file(p)
    if not p.exists():
        raise UserError(f"{str(p)!r} does not exist; pass a run folder or a synset.safetensors file")
    return load_synset(p), None, None, metrics_file(p)


def metrics_file(target: str | Path) -> Path:
    """Where the evaluation of ``target`` writes its metrics (run folder or bare synset file)."""
    p = Path(target)
    return p / RunDir.METRICS if p.is_dir() else p.with_name(p.stem + ".metrics.json")


def evaluate_target(
    target: str | Path,
    *,
    protocol: str | None = None,
    models: list[str] | None = None,
    runs: int | None = None,
    epochs: int | None = None,
    baseline: bool | None = None,
    data_dir: str | None = None,
    seed: int | None = None,
    device: str | None = None,
    progress: bool = True,
    fresh: bool = False,
    wait_for_others: bool = True,
    fast: str | None = None,
) -> dict[str, Any]:
    """Train fresh networks on the synthetic set and report test accuracy (writes metrics.json).

    Several processes may evaluate the same target at once: each network is claimed by the
    process that trains it, and a process waits for the networks others claimed before it
    writes ``metrics.json`` -- or, with ``wait_for_others=False``, raises
    :class:`~latentdd.evaluate.run_cache.NetworksInProgress` at once so the caller can do other
    work and come back.

    Every finished network is kept in ``eval_runs/`` beside ``metrics.json``, so a killed
    evaluation resumes where it stopped and a repeat with the same settings is free;
    ``fresh`` trains every network again (and replaces what was kept).  Random-real
    baseline networks are also kept in ``$LATENTDD_CACHE/random_real``: every run of the
    same dataset, IPC, protocol and seeds reuses them.

    ``fast`` (default: the run's ``eval_fast``, else ``auto``) trains each architecture on the path
    measured fastest for it (compiled, channels-last or plain; :mod:`latentdd.evaluate.speed`).
    """
    saved, run, cfg, metrics_path = locate_synset(target)
    meta = saved.meta
    overrides: dict[str, Any] = {}
    pick = [(models, "eval_models", "models"), (runs, "eval_runs", "runs"), (epochs, "eval_epochs", "epochs")]
    for given, cfg_key, proto_key in pick:
        value = given if given is not None else (getattr(cfg, cfg_key) if cfg else None)
        if value is not None:
            overrides[proto_key] = value
    proto = get_protocol(protocol or (cfg.eval_protocol if cfg else "quick"), **overrides)
    if baseline is None:
        baseline = cfg.eval_baseline if cfg else True
    dataset = meta.get("dataset")
    if not dataset:
        raise UserError(
            f"{target} does not say which dataset it was distilled from; it was not made by latentdd"
        )
    splits = load_dataset(
        dataset, data_dir or (cfg.data_dir if cfg else None), image_size=saved.images.shape[-1]
    )
    if list(splits.test.classes) != list(saved.classes):
        raise UserError(
            f"the synthetic set's classes differ from the dataset {dataset!r} found; check --data-dir"
        )
    images, splits = whiten_for_evaluation(saved.tensors, saved.images, splits)  # MTT --zca sets only
    dev = resolve_device(device or (cfg.device if cfg else "auto"))
    first_seed = seed if seed is not None else (cfg.seed if cfg else 0)
    dsa = make_dsa(proto.dsa_strategy, digits=splits.digits)
    # run folder: eval_runs/ beside metrics.json; a bare NAME.safetensors: NAME.eval_runs/
    cache_root = metrics_path.with_name(metrics_path.name.removesuffix("metrics.json") + RunCache.FOLDER)
    if fresh and cache_root.is_dir():
        shutil.rmtree(cache_root)
    common = dict(
        models=proto.models,
        protocol=proto,
        seed=first_seed,
        dsa=dsa,
        device=dev,
        progress=progress,
        wait_for_others=wait_for_others,
        fast=check_fast_mode(fast or (cfg.eval_fast if cfg else "auto")),
    )
    base = None
    in_progress = 0  # networks other processes hold (wait_for_others=False): try the rest first
    if baseline:  # the same networks for every run of this dataset and IPC: shared through the user cache
        shared = RunCache(cache_root, user_cache_dir() / "random_real", read_shared=not fresh)
        try:
            base = evaluate_random_baseline(splits.train, splits.test, saved.ipc, cache=shared, **common)
        except NetworksInProgress as busy:
            in_progress += busy.count
    learned = saved.tensors.get("learned_lr")  # MTT; used only under a protocol that asks for it
    try:
        metrics = evaluate_synset(
            images.to(dev),
            saved.labels.to(dev),
            splits.test,
            baseline=base,
            cache=RunCache(cache_root),
            distill_model=meta.get("model", "convnet"),
            lr=float(learned.reshape(-1)[0]) if learned is not None else None,
            **common,
        )
    except NetworksInProgress as busy:
        in_progress += busy.count
    if in_progress:
        raise NetworksInProgress(in_progress, cache_root)
    metrics.update(
        {
            "dataset": dataset,
            "ipc": saved.ipc,
            "method": meta.get("method"),
            "space": meta.get("space"),
            "layer": meta.get("layer"),
            "distill_model": meta.get("model", "convnet"),
        }
    )
    if distributed.world_size() > 1:
        metrics["distributed"] = distributed.describe()
    if distributed.is_main():  # one writer; every rank returns the same metrics
        atomic_write_json(metrics_path, metrics)
    distributed.barrier()
    return metrics
