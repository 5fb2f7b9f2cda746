"""Train expert trajectories for MTT: networks trained on the real data, saved every epoch.

Settings follow MTT's ``buffer.py``: plain SGD at ``lr_teacher`` 0.01 without momentum
or weight decay, batch 256, DSA on every batch (one family per batch, parameters per
image), no learning-rate decay, the parameters recorded before training and after each
epoch.  ``latentdd experts`` calls :func:`train_experts`.

Filling a buffer is resumable and parallel: expert ``k`` is trained only if
``expert_<k>.safetensors`` is missing and its lock (:mod:`.lock`) can be claimed, so a
re-run skips finished experts and several processes (or machines sharing the folder)
split the work.  Expert ``k``'s randomness comes from ``(seed, k)`` alone, so which
process trains it does not change it.  An expert in training keeps ``expert_<k>.resume.pt``
(its trajectory so far, network, optimizer and random streams, saved at the end of an epoch
every few minutes), so a killed run continues the expert where it stopped with the same
trajectory as an uninterrupted one: a CIFAR-10 expert of 15 epochs is over an hour on one core.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import distributed
from ..augment import DEFAULT_STRATEGY, make_dsa
from ..claims import try_claim
from ..data.dataset import DatasetSplits, ImageDataset
from ..data.zca import ZCA, ZCA_EPS
from ..device import resolve_device
from ..errors import UserError
from ..evaluate.speed import PLAIN, choose_fast_path
from ..evaluate.speed import prepare as prepare_fast_path
from ..evaluate.train import measure_accuracy
from ..fileio import atomic_create, load_resume_state, save_resume_state
from ..nets import create_model
from ..nets.fit import restore_training, train_epoch, training_state
from ..seeding import draw_seed, make_generator
from .buffer import (
    ZCA_FILE,
    ExpertSettings,
    ensure_manifest,
    expert_path,
    is_complete,
    lock_path,
    save_expert,
)

log = logging.getLogger("latentdd.experts")

#: Seconds of training between two saves of an expert's resume state (at the end of an epoch).
RESUME_EVERY_SECONDS = 300.0


def resume_path(folder: str | Path, k: int) -> Path:
    return Path(folder) / f"expert_{k}.resume.pt"


@dataclass
class ExpertsReport:
    """What one call did: experts it trained, found finished, or left to other processes."""

    folder: Path
    zca: bool = False  # whether the buffer's experts see ZCA-whitened data
    trained: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)
    test_accuracy: dict[int, float] = field(default_factory=dict)


def expert_seed(seed: int, k: int) -> int:
    """Independent stream per (seed, expert index), whoever trains it."""
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def flat_parameters(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def prepare_zca(splits: DatasetSplits, folder: Path, device: torch.device) -> ZCA:
    """The buffer's whitening: fitted once; a process that finds it already published
    (by a peer) uses that one, so every expert of the folder saw the same transform."""
    path = folder / ZCA_FILE
    if path.is_file():
        return ZCA.load(path)
    zca = ZCA.fit(splits.train, eps=ZCA_EPS, device=device)
    meta = {"dataset": splits.name, "sha256": splits.info.get("sha256")}
    if not atomic_create(path, lambda tmp: zca.write(tmp, meta)):  # a peer published first: use its
        zca = ZCA.load(path)
    return zca


def train_one_expert(
    train: ImageDataset,
    test: ImageDataset | None,
    settings: ExpertSettings,
    k: int,
    device: torch.device,
    digits: bool = False,
    on_epoch: Callable[[], None] | None = None,
    resume: Path | None = None,
    fast_path: str = PLAIN,
) -> tuple[torch.Tensor, list[tuple[str, list[int]]], float | None]:
    """Train expert ``k``; returns its trajectory ``[epochs + 1, P]``, the parameter index
    and the final test accuracy (percent; ``None`` without a test set).  ``resume``: a file to
    continue from and to save to (a state of other settings is ignored and overwritten).
    ``fast_path``: the evaluation's fast path to train on (:mod:`latentdd.evaluate.speed`)."""
    g = make_generator(expert_seed(settings.seed, k))
    net = create_model(
        settings.model,
        settings.channels,
        settings.num_classes,
        tuple(settings.image_size),
        seed=draw_seed(g),
        **settings.model_args,
    ).to(device)
    order_gen = make_generator(draw_seed(g))
    aug_gen = make_generator(draw_seed(g), device=device)
    dsa = make_dsa(settings.dsa_strategy, digits=digits) if settings.dsa else None
    optimizer = torch.optim.SGD(
        net.parameters(), lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
    )
    index = [(name, list(p.shape)) for name, p in net.named_parameters()]
    trajectory = torch.empty(settings.epochs + 1, sum(p.numel() for p in net.parameters()))
    trajectory[0] = flat_parameters(net).cpu()
    first_epoch = 0
    state = load_resume_state(resume) if resume is not None else None
    if state is not None and state.get("settings") == settings.to_dict():
        first_epoch = int(state["epoch"])
        trajectory[: first_epoch + 1] = state["trajectory"]
        restore_training(state, net, optimizer, order_gen, aug_gen)
        if on_epoch is not None:  # the progress bar catches up
            for _ in range(first_epoch):
                on_epoch()
    x, y = train.images.to(device), train.labels.to(device)
    augment = dsa if dsa is not None and dsa.enabled else None
    forward = prepare_fast_path(net, fast_path)
    net.train()
    last_save = time.perf_counter()
    for epoch in range(first_epoch, settings.epochs):
        train_epoch(net, optimizer, x, y, settings.batch, order_gen, augment, aug_gen, forward=forward)
        trajectory[epoch + 1] = flat_parameters(net).cpu()
        if not torch.isfinite(trajectory[epoch + 1]).all():
            raise UserError(
                f"expert {k} diverged in epoch {epoch + 1} (non-finite parameters); "
                f"lower the expert learning rate (now {settings.lr})"
            )
        if (
            resume is not None
            and epoch + 1 < settings.epochs
            and time.perf_counter() - last_save >= RESUME_EVERY_SECONDS
        ):
            progress = {
                "settings": settings.to_dict(),
                "epoch": epoch + 1,
                "trajectory": trajectory[: epoch + 2].clone(),  # its rows so far, not the whole storage
            }
            save_resume_state(resume, {**progress, **training_state(net, optimizer, order_gen, aug_gen)})
            last_save = time.perf_counter()
        if on_epoch is not None:
            on_epoch()
    accuracy = measure_accuracy(net, test, device)[0] if test is not None else None
    return trajectory, index, accuracy


def train_experts(
    splits: DatasetSplits,
    out_dir: str | Path,
    num: int,
    epochs: int,
    model: str = "convnet",
    lr: float = 0.01,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    batch: int = 256,
    dsa: bool = True,
    zca: bool = False,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
    model_args: dict[str, Any] | None = None,
    dsa_strategy: str = DEFAULT_STRATEGY,
    fast: str = "auto",
) -> ExpertsReport:
    """Fill ``out_dir`` with experts ``0 .. num-1`` (skipping finished or claimed ones).

    ``fast``: as evaluation's ``--fast``; ``auto`` trains a ConvNet expert compiled (1.92x the images
    per second of eager at CIFAR-10 shape, batch 256, DSA: ``bench/expert_speed.py``, BENCHMARKS.md).
    Compiled and eager experts follow the same recipe but not the same bits, so each expert file records
    its path; it is not part of the buffer's settings (a buffer may mix them)."""
    if num < 1 or epochs < 1:
        raise UserError(f"--num and --epochs must be at least 1 (got {num} and {epochs})")
    if batch < 1 or not lr > 0:
        raise UserError(f"the expert batch size must be >= 1 and the learning rate > 0 (got {batch}, {lr})")
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    train = splits.train
    fast_path = choose_fast_path(fast, model.lower(), len(train) * int(epochs), dev)
    model_args = dict(model_args or {})
    create_model(model, train.channels, train.num_classes, train.image_size, **model_args)  # fail early
    settings = ExpertSettings(
        dataset=splits.name,
        dataset_sha256=splits.info.get("sha256"),
        channels=train.channels,
        num_classes=train.num_classes,
        image_size=list(train.image_size),
        model=model.lower(),
        model_args=model_args,
        epochs=int(epochs),
        lr=float(lr),
        momentum=float(momentum),
        weight_decay=float(weight_decay),
        batch=int(batch),
        dsa=bool(dsa),
        dsa_strategy=dsa_strategy,
        zca=bool(zca),
        zca_eps=ZCA_EPS if zca else None,
        seed=int(seed),
    )
    folder = Path(out_dir)
    ensure_manifest(folder, settings)
    report = ExpertsReport(folder, zca=bool(zca))
    distributed.barrier()  # under torchrun every rank sees the same finished experts before any trains
    todo = [k for k in range(num) if not is_complete(expert_path(folder, k), epochs)]
    report.skipped = [k for k in range(num) if k not in todo]
    todo = distributed.shard(todo)  # ranks train different experts (claims still guard each one)
    if todo:
        _train_listed(todo, report, splits, folder, settings, epochs, dev, progress, fast_path)
    report.skipped.sort()
    return _gathered(report)


def _train_listed(
    todo: list[int],
    report: ExpertsReport,
    splits: DatasetSplits,
    folder: Path,
    settings: ExpertSettings,
    epochs: int,
    dev: torch.device,
    progress: bool,
    fast_path: str,
) -> None:
    """Claim and train the experts ``todo`` (skipping those another process holds or finished)."""
    train = splits.train
    test: ImageDataset | None = splits.test if len(splits.test) else None
    if settings.zca:
        transform = prepare_zca(splits, folder, dev)
        train = transform.apply_dataset(train)
        test = transform.apply_dataset(test) if test is not None else None
    bar = tqdm(total=len(todo) * epochs, desc="experts", unit="ep", disable=not progress, dynamic_ncols=True)
    try:
        for k in todo:
            claim = try_claim(lock_path(folder, k))
            if claim is None:
                report.busy.append(k)
                bar.update(epochs)
                continue
            with claim:
                if is_complete(expert_path(folder, k), epochs):  # finished by a peer meanwhile
                    claim.finish()
                    report.skipped.append(k)
                    bar.update(epochs)
                    continue
                started = time.perf_counter()
                bar.set_postfix(expert=k)
                trajectory, index, acc = train_one_expert(
                    train,
                    test,
                    settings,
                    k,
                    dev,
                    digits=splits.digits,
                    on_epoch=lambda: bar.update(1),
                    resume=resume_path(folder, k),
                    fast_path=fast_path,
                )
                extra = {
                    "expert": k,
                    "test_accuracy": acc,
                    "train_seconds": time.perf_counter() - started,
                    "device": str(dev),
                    "fast_path": fast_path or "plain",
                }
                save_expert(expert_path(folder, k), trajectory, index, settings, extra)
                resume_path(folder, k).unlink(missing_ok=True)  # the expert file holds it all now
                claim.finish()  # the expert file records it: no lock file left in the buffer
            report.trained.append(k)
            if acc is not None:
                report.test_accuracy[k] = acc
            log.info("expert %d: test accuracy %.2f%% after %d epochs", k, acc or float("nan"), epochs)
    finally:
        bar.close()


def _gathered(report: ExpertsReport) -> ExpertsReport:
    """Under torchrun: every rank's report merged (each rank ends with the whole buffer's account)."""
    parts = distributed.all_gather_object(report)
    if len(parts) == 1:
        return report
    merged = ExpertsReport(report.folder, zca=report.zca)
    for part in parts:
        merged.trained += part.trained
        merged.busy += part.busy
        merged.test_accuracy.update(part.test_accuracy)
    merged.trained.sort()
    merged.busy = sorted(set(merged.busy) - set(merged.trained))
    merged.skipped = sorted(set(report.skipped) | {k for p in parts for k in p.skipped})
    return merged
