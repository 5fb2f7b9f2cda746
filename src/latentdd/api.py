"""The Python API: the same verbs as the command line, for notebooks and scripts.

>>> from latentdd import api
>>> cfg = api.build_config({"dataset": "mnist", "data_dir": "../shared/datasets", "ipc": 10,
...                         "preset": "cpu-small", "out": "runs/mnist-dm"})
>>> run = api.distill(cfg)
>>> metrics = api.evaluate(run)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from .claims import hold_exclusive
from .config import DistillConfig, apply_overrides, build_config
from .data import load_dataset
from .device import resolve_device
from .distributed import is_main as is_main_process
from .engine import distill as _distill
from .errors import UserError
from .evaluate import format_table
from .evaluate import prior_score as prior_scoring
from .evaluate.parallel import evaluate_in_processes
from .evaluate.prior_score import format_scores as format_prior_scores
from .evaluate.target import evaluate_target
from .experts import ExpertsReport
from .experts import train_experts as _train_experts
from .fileio import atomic_write_json
from .presets.mtt import mtt_whitening
from .priors.loading.io import save_prior
from .priors.loading.resolve import describe_builtin_priors, resolve_prior
from .priors.training.trainers import TRAINERS
from .report import compare_runs, write_report
from .report.markdown import render_table
from .report.text import render_text
from .runs import RunDir

log = logging.getLogger("latentdd")

__all__ = [
    "build_config",
    "compare_runs",
    "describe_builtin_priors",
    "distill",
    "evaluate",
    "format_comparison",
    "format_metrics",
    "format_prior_scores",
    "is_main_process",
    "load_dataset",
    "resume",
    "score_prior",
    "train_experts",
    "train_prior",
    "write_report",
]


def distill(cfg: DistillConfig, *, progress: bool = True) -> Path:
    """Distill per ``cfg`` into ``cfg.out``; returns the run folder."""
    return _distill(cfg, progress=progress)


def resume(run_dir: str | Path, *, progress: bool = True) -> Path:
    """Continue an interrupted run from its last checkpoint, exactly as configured."""
    run = RunDir.existing(run_dir)
    cfg = run.config()
    cfg.out = str(run.path)
    return _distill(cfg, resume=True, progress=progress)


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
    fast: str | None = None,
) -> dict[str, Any]:
    """Train fresh networks on the synthetic set and report test accuracy (writes metrics.json);
    see :func:`latentdd.evaluate.target.evaluate_target` for what is cached and shared.

    ``jobs`` above 1 trains that many networks at once, in helper processes that share this
    process's threads (:mod:`latentdd.evaluate.parallel`).  ``fast`` (auto/off/compile) trains each
    architecture on the path measured fastest for it (:mod:`latentdd.evaluate.speed`).
    """
    settings = dict(
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
        fast=fast,
    )
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    if jobs > 1:
        return evaluate_in_processes(target, jobs, settings)
    return evaluate_target(target, **settings)


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

    TRAINERS.get(arch)  # an unknown --arch fails before the data is loaded
    recipe = {k: v for k, v in recipe.items() if v is not None}
    if arch == "ae" and recipe:
        raise UserError(
            f"{', '.join('--' + k.replace('_', '-') for k in recipe)} is for GAN priors "
            "(--arch cgen or sgen), not the autoencoder"
        )

    splits = load_dataset(dataset, data_dir, image_size=image_size)
    # one process trains into a prior file at a time (under torchrun: rank 0 holds it for the job)
    held = (
        hold_exclusive(Path(out).with_suffix(".lock"), f"prior {str(out)!r}") if is_main_process() else None
    )
    try:
        return _train_prior(
            splits, dataset, out, epochs, steps, seed, image_size=image_size, dev_name=device,
            license_text=license_text, progress=progress, arch=arch, score=score, recipe=recipe,
        )  # fmt: skip
    finally:
        if held is not None:
            held.finish()


def _train_prior(
    splits: Any,
    dataset: str,
    out: str | Path,
    epochs: float | None,
    steps: int | None,
    seed: int,
    *,
    image_size: int | None,
    dev_name: str,
    license_text: str | None,
    progress: bool,
    arch: str,
    score: bool,
    recipe: dict[str, Any],
) -> Path:
    kwargs: dict[str, Any] = dict(recipe)
    if epochs is not None:
        kwargs["epochs"] = epochs
    if steps is not None:
        kwargs["steps"] = steps
    dev = resolve_device(dev_name)
    if score:  # periodic scores without CAS (seconds), the final ones with it (minutes)
        kwargs["monitor"] = lambda step, snapshot: score_prior_on(snapshot, splits, device=dev, cas=False)
    prior, record = TRAINERS.get(arch)(
        splits.train, seed=seed, device=str(dev), out=str(out), progress=progress, arch=arch, **kwargs
    )
    if not is_main_process():  # under torchrun rank 0 scores and writes the prior
        return Path(out)
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
    return prior_scoring.score_prior(
        prior, splits, prior_scoring.ScoreSettings(**settings), device=device, cas=cas
    )


def score_prior(
    spec: str,
    dataset: str,
    *,
    data_dir: str | None = None,
    image_size: int | None = None,
    device: str = "auto",
    cas: bool = True,
    out: str | Path | None = None,
    trust_pickle: bool = False,
    **settings: Any,
) -> dict[str, Any]:
    """Score the prior ``spec`` (any ``--prior`` value) on ``dataset``: CAS beside real images,
    Fréchet distance and diversity in an in-project embedding, saturated pixels.  ``out``: also
    write the scores as JSON there (atomically).  ``trust_pickle``: let a StyleGAN ``.pkl`` be
    unpickled (pickles run code when loaded; only for files you trust)."""
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
        trust_pickle=trust_pickle,
    )
    scores = score_prior_on(prior, splits, device=dev, cas=cas, **settings)
    scores.update(prior=record.get("path", spec), prior_sha256=record.get("sha256"), dataset=dataset)
    if out is not None:
        atomic_write_json(out, scores)
    return scores


def train_experts(
    dataset: str,
    out: str | Path,
    *,
    num: int,
    epochs: int,
    data_dir: str | None = None,
    image_size: int | None = None,
    model: str = "convnet",
    model_args: dict[str, Any] | str | None = None,
    zca: bool | None = None,
    ipc: int = 10,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    fast: str = "auto",
) -> ExpertsReport:
    """Fill the expert buffer ``out`` for MTT (resumable; several processes may share it).  ``zca``
    None whitens as MTT's table says for ``dataset`` at ``ipc``; ``model_args`` as in a config
    (``"width=64,depth=2"`` or a dict); ``fast`` as evaluation's (``auto``: a ConvNet expert trains
    compiled, about twice as fast on a CPU)."""
    if zca is None:
        zca = mtt_whitening(dataset, ipc)
    args = apply_overrides(DistillConfig(), {"model_args": model_args or {}}, "command line").model_args
    splits = load_dataset(dataset, data_dir, image_size=image_size)
    return _train_experts(
        splits,
        out,
        num=num,
        epochs=epochs,
        model=model,
        model_args=args,
        zca=zca,
        seed=seed,
        device=device,
        progress=progress,
        fast=fast,
    )


def format_comparison(run_dirs: list[str], metric: str = "cross", markdown: bool = False) -> str:
    """``latentdd compare``: the runs as one objective/space x IPC grid, as text or Markdown."""
    table = compare_runs(run_dirs, metric)
    return render_table(table) if markdown else render_text(table)
