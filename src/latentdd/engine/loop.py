"""The distillation loop: decode, objective, push the pixel gradient back, step, checkpoint."""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import distributed
from ..config import DistillConfig
from ..data import DatasetSplits, dataset_label, load_dataset
from ..device import resolve_device
from ..errors import UserError
from ..objectives import Objective, RealSampler
from ..runs import RunDir, code_version, save_grid
from ..seeding import make_generator
from ..synth.base import SyntheticSet
from ..synth.io import SavedSynset, save_synset
from .build import build_objective, build_synset, check_ipc
from .checkpoint import load_checkpoint, save_checkpoint
from .layer_auto import choose_layer
from .steps import make_optimizer, run_iterations
from .walk import shape_as_saved

log = logging.getLogger("latentdd.engine")


def steady_seconds(times: list[float]) -> float | None:
    rest = sorted(times[1:])
    return rest[len(rest) // 2] if rest else None


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def distill(cfg: DistillConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Run (or continue) a distillation; returns the run folder."""
    if not cfg.out:
        raise UserError("no output folder given; pass --out RUN_DIR")
    main = distributed.is_main()  # under torchrun rank 0 alone writes the run folder
    run = RunDir(cfg.out)
    if not resume and distributed.restart_count() > 0 and run.file(RunDir.CONFIG).exists():
        _check_same_run(run, cfg)  # torchrun restarted the job after a failure: continue the run
        resume = True
    if resume:
        run = RunDir.existing(cfg.out)
    held = run.hold() if resume and main else None  # rank 0 holds the folder for the whole job
    try:
        return _distill_held(cfg, run, resume, progress, main)
    finally:
        if held is not None:
            held.release()


def _distill_held(cfg: DistillConfig, run: RunDir, resume: bool, progress: bool, main: bool) -> Path:
    """Build every part, then create (or continue) the run folder and distill."""
    if not resume and main:
        run.ensure_fresh()
    device = resolve_device(cfg.device)
    splits = load_dataset(cfg.dataset, cfg.data_dir, image_size=cfg.image_size)
    check_ipc(cfg, splits)
    if cfg.layer == "auto" and cfg.space == "latent":
        # config.yaml then names the chosen layer, so --resume never re-runs the selection.
        cfg.layer, cfg.extra["layer_auto"] = choose_layer(cfg, splits, device, progress)
    # Build every part before touching the run folder, so bad input leaves nothing behind.
    generator = make_generator(cfg.seed)
    synset, prior_record = build_synset(cfg, splits, generator, device)
    job = Job(cfg, run, splits, device, generator, synset, build_objective(cfg, splits, device), prior_record)
    fresh_hold = None
    if not resume and main:
        fresh_hold = run.hold()  # taken only now, so bad input leaves no folder behind
    try:
        if fresh_hold is not None:
            run.create(cfg)
        distributed.barrier()
        handler = run.attach_log() if main else None
        try:
            return _distill(job, resume, progress)
        finally:
            if handler is not None:
                RunDir.detach_log(handler)
            distributed.barrier()
    finally:
        if fresh_hold is not None:
            fresh_hold.release()


def _check_same_run(run: RunDir, cfg: DistillConfig) -> None:
    stored = {k: v for k, v in run.config().to_dict().items() if k not in ("extra", "layer")}
    asked = {k: v for k, v in cfg.to_dict().items() if k not in ("extra", "layer")}
    if stored != asked:
        differ = ", ".join(sorted(k for k in asked if stored.get(k) != asked[k]))
        raise UserError(
            f"torchrun restarted this job, but {str(run.path)!r} holds a run with other settings ({differ}); "
            "choose another --out"
        )


@dataclass
class Job:
    """Everything one distillation works with, built before the run folder is touched."""

    cfg: DistillConfig
    run: RunDir
    splits: DatasetSplits
    device: torch.device
    generator: torch.Generator
    synset: SyntheticSet
    objective: Objective
    prior_record: dict[str, Any] | None


def _distill(job: Job, resume: bool, progress: bool) -> Path:
    cfg, run, splits, device, generator = job.cfg, job.run, job.splits, job.device, job.generator
    synset, objective, prior_record = job.synset, job.objective, job.prior_record
    optimizer = make_optimizer(cfg, synset)
    sampler = RealSampler(splits.train, device)
    state: dict[str, Any] = {"iteration": 0, "losses": [], "seconds": 0.0}
    if resume and run.file(RunDir.SYNSET).exists() and run.file(RunDir.STATS).exists():
        log.info("%s is already complete", run.path)  # distill.json is the last result written
        return run.path
    if resume and run.file(RunDir.CHECKPOINT).exists():
        state = load_checkpoint(
            run.file(RunDir.CHECKPOINT),
            synset,
            optimizer,
            generator,
            objective,
            prepare=shape_as_saved(cfg, synset, optimizer),
        )
        log.info("resumed %s at iteration %d", run.path, state["iteration"])
    main = distributed.is_main()
    if prior_record is not None and main:
        run.write_json(RunDir.PRIOR, prior_record)  # provenance travels with every run
    log.info(
        "distilling %s: method=%s space=%s ipc=%d iterations=%d device=%s",
        cfg.dataset,
        cfg.method,
        cfg.space,
        cfg.ipc,
        cfg.iterations,
        device,
    )
    if cfg.extra.get("prior_recommended"):
        log.info(
            "from the prior's recorded settings (a flag or config key overrides them): %s",
            ", ".join(f"{k}={v}" for k, v in cfg.extra["prior_recommended"].items()),
        )

    def checkpoint() -> None:  # every rank holds the same state: rank 0's file serves any number of ranks
        if main:
            save_checkpoint(run.file(RunDir.CHECKPOINT), state, synset, optimizer, generator, objective)

    run_iterations(
        cfg, synset, objective, sampler, optimizer, generator, state, progress, on_checkpoint=checkpoint
    )
    if main:
        # the final checkpoint first: a kill while the results are written resumes from it, runs no
        # iteration and writes them all again (a set with no distill.json is not complete)
        save_checkpoint(run.file(RunDir.CHECKPOINT), state, synset, optimizer, generator, objective)
        _write_results(job, state)
        log.info("done in %.1f s; synthetic set in %s", state["seconds"], run.file(RunDir.SYNSET))
    return run.path


def _write_results(job: Job, state: dict[str, Any]) -> None:
    """The synthetic set, its grid and ``distill.json``."""
    cfg, run, splits, synset, prior_record = job.cfg, job.run, job.splits, job.synset, job.prior_record
    images = synset.decode().cpu()
    if not torch.isfinite(images).all():  # the guard restores blown-up sets; this is the last line
        raise UserError(f"the synthetic set holds NaN or Inf values; not writing it to {run.path}")
    train = splits.train
    meta = {
        "method": cfg.method,
        "space": cfg.space,
        "layer": getattr(synset, "layer", None),  # the last layer of a --walk-to run
        "ipc": cfg.ipc,
        "dataset": cfg.dataset,
        "dataset_source": splits.source,
        "dataset_sha256": splits.info.get("sha256"),
        "digits": splits.digits,
        "seed": cfg.seed,
        "iterations": cfg.iterations,
        "model": cfg.model,
        "prior": prior_record,
    }
    save_synset(
        run.file(RunDir.SYNSET),
        SavedSynset(
            images=images,
            labels=synset.labels.cpu(),
            classes=train.classes,
            mean=train.mean,
            std=train.std,
            meta=meta,
            tensors={**synset.tensors(), **job.objective.tensors()},
        ),
    )
    save_grid(
        train.denormalize(images).clamp(0, 1),
        synset.labels.cpu(),
        train.classes,
        run.file(RunDir.GRID),
        title=f"{dataset_label(cfg.dataset)} {cfg.method}/{cfg.space} IPC {cfg.ipc}",
    )
    run.write_json(
        RunDir.STATS,
        {
            "distill_seconds": state["seconds"],
            "seconds_per_iteration": state["seconds"] / max(1, cfg.iterations),
            # the median iteration after the first (which compiles, warms caches): the steady speed
            "steady_seconds_per_iteration": steady_seconds(state.get("iteration_seconds", [])),
            "iterations": cfg.iterations,
            "device": str(job.device),
            "latentdd_version": code_version(),
            **peak_memory_mb(job.device),
            "loss": state["losses"],
            "blowups": len(state.get("blowups", [])),  # rolled-back non-finite steps (engine/blowups.py)
            "blowup_events": state.get("blowups", []),
            "prior": prior_record,
            "layer_auto": cfg.extra.get("layer_auto"),
            "prior_recommended": cfg.extra.get("prior_recommended"),
            "distributed": distributed.describe(),
            "dataset": {"name": cfg.dataset, "source": splits.source, **splits.info},
        },
    )
