"""The Python API: the same verbs as the command line, for notebooks and scripts.

>>> from latentdd import api
>>> cfg = api.build_config({"dataset": "mnist", "data_dir": "../shared/datasets", "ipc": 10,
...                         "preset": "cpu-small", "out": "runs/mnist-dm"})
>>> run = api.distill(cfg)
>>> metrics = api.evaluate(run)
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from .augment import make_dsa
from .config import DistillConfig, build_config
from .data import load_dataset
from .data.zca import whiten_for_evaluation
from .device import resolve_device
from .engine import RunDir
from .engine import distill as _distill
from .errors import UserError
from .evaluate import evaluate_random_baseline, evaluate_synset, format_table, get_protocol
from .evaluate.parallel import evaluate_in_processes
from .evaluate.run_cache import NetworksInProgress, RunCache
from .fileio import atomic_write_json
from .paths import user_cache_dir
from .synth.io import SavedSynset, load_synset

log = logging.getLogger("latentdd")

__all__ = ["build_config", "distill", "evaluate", "format_metrics", "load_dataset", "resume", "train_prior"]


def distill(cfg: DistillConfig, *, progress: bool = True) -> Path:
    """Distill per ``cfg`` into ``cfg.out``; returns the run folder."""
    return _distill(cfg, progress=progress)


def resume(run_dir: str | Path, *, progress: bool = True) -> Path:
    """Continue an interrupted run from its last checkpoint, exactly as configured."""
    run = RunDir.existing(run_dir)
    cfg = run.config()
    cfg.out = str(run.path)
    return _distill(cfg, resume=True, progress=progress)


def _locate(target: str | Path) -> tuple[SavedSynset, RunDir | None, DistillConfig | None, Path]:
    p = Path(target)
    if p.is_dir():
        run = RunDir.existing(p)
        synset_path = run.file(RunDir.SYNSET)
        if not synset_path.is_file():
            raise UserError(
                f"run {str(p)!r} has no synthetic set yet; finish it with `latentdd distill --resume {p}`"
            )
        return load_synset(synset_path), run, run.config(), run.file(RunDir.METRICS)
    if not p.exists():
        raise UserError(f"{str(p)!r} does not exist; pass a run folder or a synset.safetensors file")
    return load_synset(p), None, None, p.with_name(p.stem + ".metrics.json")


def evaluate(
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
    jobs: int = 1,
) -> dict[str, Any]:
    """Train fresh networks on the synthetic set and report test accuracy (writes metrics.json).

    ``jobs`` above 1 trains that many networks at once, in helper processes that share this
    process's threads (:mod:`latentdd.evaluate.parallel`).

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
    """
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    if jobs > 1:
        return evaluate_in_processes(
            target,
            jobs,
            dict(
                protocol=protocol,
                models=models,
                runs=runs,
                epochs=epochs,
                baseline=baseline,
                data_dir=data_dir,
                seed=seed,
                device=device,
                progress=progress,
                fresh=fresh,
                wait_for_others=wait_for_others,
            ),
        )
    saved, run, cfg, metrics_path = _locate(target)
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
    atomic_write_json(metrics_path, metrics)
    return metrics


def format_metrics(metrics: dict[str, Any]) -> str:
    return format_table(metrics)


def train_prior(
    dataset: str,
    out: str | Path,
    *,
    data_dir: str | None = None,
    epochs: float | None = None,
    steps: int | None = None,
    image_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    license_text: str | None = None,
    progress: bool = True,
    arch: str = "cgen",
    score: bool = True,
    **recipe: Any,
) -> Path:
    """Train a built-in prior on ``dataset`` and write a prior file: ``arch`` is ``cgen`` (conditional
    GAN), the StyleGAN-style ``sgen``, or ``ae`` (KL autoencoder; latents start from encoded images)."""
    from .priors.io import save_prior
    from .priors.trainers import TRAINERS

    _train = TRAINERS.get(arch)
    recipe = {k: v for k, v in recipe.items() if v is not None}
    if arch == "ae" and recipe:
        raise UserError(
            f"{', '.join('--' + k.replace('_', '-') for k in recipe)} is for GAN priors "
            "(--arch cgen or sgen), not the autoencoder"
        )

    splits = load_dataset(dataset, data_dir, image_size=image_size)
    kwargs: dict[str, Any] = dict(recipe)
    if epochs is not None:
        kwargs["epochs"] = epochs
    if steps is not None:
        kwargs["steps"] = steps
    dev = resolve_device(device)
    if score:  # periodic scores without CAS (seconds), the final ones with it (minutes)
        kwargs["monitor"] = lambda step, snapshot: score_prior_on(snapshot, splits, device=dev, cas=False)
    prior, record = _train(
        splits.train, seed=seed, device=str(dev), out=str(out), progress=progress, arch=arch, **kwargs
    )
    if score:
        record["scores"] = score_prior_on(prior, splits, device=dev, cas=True)
    record.update(
        {
            "dataset": {
                "name": dataset,
                "source": splits.source,
                "sha256": splits.info.get("sha256"),
                "n_train": len(splits.train),
            },
            "source": " ".join(
                ["latentdd prior train", f"--arch {arch}", f"--dataset {dataset}", f"--seed {seed}"]
                + ([f"--steps {steps}"] if steps is not None else [])
                + ([f"--epochs {epochs}"] if epochs is not None else [])
                + ([f"--image-size {image_size}"] if image_size is not None else [])
                + [
                    f"--{k.replace('_', '-')} {v}" if not isinstance(v, bool) else f"--{k.replace('_', '-')}"
                    for k, v in recipe.items()
                    if v is not False
                ]
            ),
            "license": license_text or "not declared",
        }
    )
    save_prior(prior.to(torch.device("cpu")), out, record)
    return Path(out)


def score_prior_on(
    prior: Any, splits: Any, *, device: Any = "cpu", cas: bool = True, **settings: Any
) -> dict:
    """Scores of a loaded prior against loaded data (see :mod:`latentdd.evaluate.prior_score`)."""
    from .evaluate.prior_score import ScoreSettings, score_prior

    return score_prior(prior, splits, ScoreSettings(**settings), device=device, cas=cas)


def score_prior(
    spec: str,
    dataset: str,
    *,
    data_dir: str | None = None,
    image_size: int | None = None,
    device: str = "auto",
    cas: bool = True,
    out: str | Path | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Score the prior ``spec`` (any ``--prior`` value) on ``dataset``: CAS beside real images,
    Fréchet distance and diversity in an in-project embedding, saturated pixels.  ``out``: also
    write the scores as JSON there (atomically)."""
    from .priors.resolve import resolve_prior

    splits = load_dataset(dataset, data_dir, image_size=image_size)
    dev = resolve_device(device)
    train = splits.train
    prior, record = resolve_prior(
        spec,
        num_classes=train.num_classes,
        channels=train.channels,
        image_size=train.image_size[0],
        seed=int(settings.get("seed", 0)),
        device=dev,
    )
    scores = score_prior_on(prior, splits, device=dev, cas=cas, **settings)
    scores.update(prior=record.get("path", spec), prior_sha256=record.get("sha256"), dataset=dataset)
    if out is not None:
        atomic_write_json(out, scores)
    return scores
