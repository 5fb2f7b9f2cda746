"""GAN training of a built-in class-conditional prior.

Recipe (chosen, by measurement, to give class-correct samples within minutes on a CPU): projection
discriminator (batch norm by default, spectral norm with ``spectral_norm=True``; see
:mod:`.discriminator` for why), hinge loss, Adam, one D step per G step, a 100x slower mapping
network, and an exponential moving average (EMA) of the generator weights which becomes the
saved prior -- the EMA smooths the GAN's oscillations -- with its batch-norm statistics
recomputed for the averaged weights at the end.

With ``out`` set, training writes next to it: ``<out stem>.ckpt.pt`` every ``checkpoint_every``
steps (atomic; a rerun with the same settings resumes from it, and asking for more steps
continues training), ``<out stem>.grid.png`` (one row per class; refreshed from the EMA weights
every ``grid_every`` steps, so a long run can be judged while it trains) and the prior file ``out``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torchvision.utils import save_image
from tqdm.auto import tqdm

from ... import distributed
from ...augment.diffaugment import DiffAugment
from ...errors import UserError
from ...fileio import atomic_write, atomic_write_text
from ...seeding import draw_seed, make_generator, seeded_global_rng
from ..base import Prior
from ..loading.io import save_prior
from ..models import PRIORS  # the package registers every built-in architecture
from ..recommended import recommended_for_arch
from .discriminator import ProjectionDiscriminator
from .state import GeneratorState, resume_training_state, save_training_state

if TYPE_CHECKING:  # priors only need the ImageDataset interface, not the data package at import time
    from ...data.dataset import ImageDataset

#: default length of ``latentdd prior train`` -- a few minutes on a 2-core CPU for MNIST
DEFAULT_STEPS = 1000
#: generator size for CPU training (narrower last stage than the constructor's default)
DEFAULT_ARCH: dict[str, Any] = {"base_channels": 128, "min_channels": 16}


def checkpoint_path(out: str | os.PathLike) -> Path:
    return Path(out).with_suffix(".ckpt.pt")


def grid_path(out: str | os.PathLike) -> Path:
    return Path(out).with_suffix(".grid.png")


def dataset_fingerprint(ds: ImageDataset) -> str:
    """SHA-256 of the images and labels, so a prior names exactly which data it was trained on."""
    h = hashlib.sha256()
    h.update(ds.images.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    h.update(ds.labels.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def save_sample_grid(prior: Prior, path: str | os.PathLike, per_class: int = 10, seed: int = 0) -> None:
    """A PNG with one row per class (``per_class`` samples each), written atomically."""
    device = next(prior.parameters()).device
    labels = torch.arange(prior.num_classes).repeat_interleave(per_class)
    z = prior.sample_latents(labels, make_generator(seed)).to(device)
    images = (prior(z, labels.to(device)).cpu() + 1.0) / 2.0
    atomic_write(path, lambda tmp: save_image(images, tmp, nrow=per_class, padding=2, format="png"))


def save_progress_grid(ema: Prior, path: str | os.PathLike, seed: int) -> Prior:
    """The sample grid of the EMA weights *so far*, so a run of hours can be looked at while it trains.

    Calibrates a copy (the EMA's own statistics keep following training) with its own generator,
    so training draws the same random numbers with or without these grids; returns that copy.
    """
    snapshot = copy.deepcopy(ema)
    snapshot.calibrate(make_generator(seed + 1))
    save_sample_grid(snapshot, path, seed=seed)
    return snapshot.eval()


#: ``monitor(step, frozen_prior_snapshot) -> scores``: called every ``grid_every`` steps
Monitor = Callable[[int, Prior], dict[str, Any]]


def scores_path(out: str | os.PathLike) -> Path:
    return Path(out).with_suffix(".scores.jsonl")


def log_scores(out: str | os.PathLike | None, step: int, scores: dict[str, Any]) -> None:
    """Append one line of periodic prior scores beside the prior file (and say it on the console)."""
    line = json.dumps({"step": step, **scores}, sort_keys=True)
    tqdm.write(f"step {step}: " + ", ".join(f"{k} {v:.3g}" for k, v in summary_of(scores).items()))
    if out is not None:
        path = scores_path(out)
        previous = path.read_text() if path.is_file() else ""
        atomic_write_text(path, previous + line + "\n")


def summary_of(scores: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of a score record (what the progress log prints)."""
    out = {
        "frechet": scores.get("frechet_distance"),
        "diversity_ratio": (scores.get("diversity") or {}).get("ratio"),
        "saturated": (scores.get("saturation") or {}).get("generated"),
        "cas_ratio": (scores.get("cas") or {}).get("ratio"),
    }
    return {k: float(v) for k, v in out.items() if v is not None}


def training_record(
    train: ImageDataset,
    arch: str,
    data_hash: str,
    settings: dict[str, Any],
    steps: int,
    seconds: float,
    losses: dict[str, float],
) -> dict[str, Any]:
    """The provenance record every trainer writes into its prior file.  ``steps`` is the step of the
    saved weights (a checkpoint past ``--steps`` is saved as it is)."""
    return {
        "source": "latentdd prior train",
        "arch": arch,
        "dataset": train.name,
        "dataset_sha256": data_hash,
        "classes": list(train.classes),
        "mean": list(train.mean),
        "std": list(train.std),
        "num_images": len(train),
        "settings": {k: v for k, v in settings.items() if k not in ("config", "dataset_sha256")},
        "steps": steps,
        "train_seconds": round(seconds, 1),
        "final_losses": losses,
        "license": f"weights derived from {train.name!r}: use under that dataset's terms",
        # the layer and step sizes validated for this architecture (priors/recommended.py)
        "distill_defaults": recommended_for_arch(arch),
    }


def real_batch(
    train: ImageDataset, idx: torch.Tensor, size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training images ``idx`` in the generator's range [-1, 1] at ``size`` px, and their labels."""
    real = train.denormalize(train.images[idx]) * 2.0 - 1.0
    if real.shape[-2:] != (size, size):
        real = F.interpolate(real, size=(size, size), mode="bilinear", antialias=True)
    return real.to(device), train.labels[idx].to(device)


def total_steps(epochs: float | None, steps: int | None, n: int, batch_size: int) -> int:
    if steps is not None:
        total = int(steps)
    elif epochs is not None:
        total = math.ceil(float(epochs) * n / batch_size)
    else:
        total = DEFAULT_STEPS
    if total < 1:
        raise UserError(f"prior training needs at least 1 step, got {total}; raise --epochs")
    return total


def ema_update(ema: Prior, model: Prior, decay: float) -> None:
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
            pe.lerp_(pm, 1.0 - decay)


def train_prior(
    train: ImageDataset,
    *,
    epochs: float | None = None,
    steps: int | None = None,
    batch_size: int = 64,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    ema_decay: float = 0.995,
    seed: int = 0,
    device: str | torch.device = "cpu",
    out: str | os.PathLike | None = None,
    checkpoint_every: int = 250,
    grid_every: int = 1000,
    progress: bool = True,
    image_size: int | None = None,
    arch: str = "cgen",
    disc_channels: int = 64,
    spectral_norm: bool = False,
    monitor: Monitor | None = None,
    diffaug: str = "none",
    **arch_kwargs: Any,
) -> tuple[Prior, dict[str, Any]]:
    """Train a class-conditional prior on ``train``; return the frozen prior and its record.

    ``steps`` (which overrides ``epochs``, possibly fractional; default :data:`DEFAULT_STEPS` steps)
    counts generator updates of ``batch_size`` images.  ``image_size`` defaults to the data's size; real
    images are resized to it.  ``arch_kwargs`` go to the generator (``latent_dim``,
    ``base_channels``, ...; defaults :data:`DEFAULT_ARCH`).  All randomness flows from ``seed``.
    ``monitor`` scores a frozen snapshot every ``grid_every`` steps (:func:`log_scores`).
    ``diffaug``: a DiffAugment policy (e.g. ``color_crop_cutout``) applied to everything the
    discriminator sees, real and generated; ``none`` (the default) sees images as they are.
    """
    device = torch.device(device)
    n = len(train)
    if n == 0:
        raise UserError(f"dataset {train.name!r} has no training images; cannot train a prior")
    height, width = train.image_size
    size = int(image_size or max(height, width))
    total = total_steps(epochs, steps, n, batch_size)

    with seeded_global_rng(seed):
        gen = PRIORS.create(
            arch,
            num_classes=train.num_classes,
            image_channels=train.channels,
            image_size=size,
            **{**DEFAULT_ARCH, **arch_kwargs},
        ).to(device)
        disc = ProjectionDiscriminator(train.num_classes, train.channels, size, disc_channels, spectral_norm)
        disc = disc.to(device)
    ema = copy.deepcopy(gen).requires_grad_(False)
    groups = gen.optimizer_groups(lr) if hasattr(gen, "optimizer_groups") else gen.parameters()
    opt_g = torch.optim.Adam(groups, lr=lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=betas)
    rng = make_generator(seed)

    data_hash = dataset_fingerprint(train)
    settings = {
        "arch": arch,
        "config": gen.config(),
        "batch_size": batch_size,
        "lr": lr,
        "betas": list(betas),
        "ema_decay": ema_decay,
        "seed": seed,
        "disc_channels": disc_channels,
        "spectral_norm": spectral_norm,
        "dataset_sha256": data_hash,
    }
    augment = DiffAugment(diffaug)
    if augment.enabled:  # only then: checkpoints of runs without it keep their settings
        settings["diffaug"] = diffaug
    aug_rng = make_generator(seed + 4)
    parts = {"generator": gen, "ema": ema, "discriminator": disc, "opt_g": opt_g, "opt_d": opt_d}
    if augment.enabled:
        parts["aug_rng"] = GeneratorState(aug_rng)
    noise_rng = make_generator(seed + 5)
    if getattr(gen, "draws_global_noise", False):  # StyleGAN noise inputs: seeded, and checkpointed
        parts["noise_rng"] = GeneratorState(noise_rng)
    start, elapsed = 0, 0.0
    losses = {"d": float("nan"), "g": float("nan")}
    ckpt = checkpoint_path(out) if out is not None else None
    if ckpt is not None and ckpt.exists():
        start, elapsed, losses = resume_training_state(ckpt, settings, parts, rng)

    gen.train()
    disc.train()
    t0 = time.perf_counter() - elapsed
    bar = tqdm(
        total=total,
        initial=start,
        desc="prior",
        disable=not (progress and distributed.is_main()),
        dynamic_ncols=True,
    )
    for step in range(start, total):
        idx = torch.randint(0, n, (batch_size,), generator=rng)
        real, labels = real_batch(train, idx, size, device)
        z = gen.sample_latents(labels.cpu(), rng).to(device)
        if distributed.world_size() > 1:  # under torchrun: this rank's slice of the shared batch and codes
            mine = slice(distributed.rank(), None, distributed.world_size())
            real, labels, z = real[mine], labels[mine], z[mine]

        if "noise_rng" in parts:
            with seeded_global_rng(draw_seed(noise_rng)):
                fake = gen(z, labels)
        else:
            fake = gen(z, labels)
        seen_real, seen_fake = (
            (augment(real, aug_rng), augment(fake, aug_rng)) if augment.enabled else (real, fake)
        )
        d_loss = (
            F.relu(1.0 - disc(seen_real, labels)).mean()
            + F.relu(1.0 + disc(seen_fake.detach(), labels)).mean()
        )
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        distributed.average_gradients_(disc.parameters())  # the global batch's gradient on every rank
        opt_d.step()

        g_loss = -disc(seen_fake, labels).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        distributed.average_gradients_(gen.parameters())
        opt_g.step()
        ema_update(ema, gen, ema_decay)

        losses = {"d": d_loss.item(), "g": g_loss.item()}
        if not all(math.isfinite(v) for v in losses.values()):
            raise UserError(f"prior training diverged at step {step + 1} (losses {losses}); lower --lr")
        bar.update(1)
        if step % 10 == 0 or step + 1 == total:
            bar.set_postfix(d_loss=f"{losses['d']:.3f}", g_loss=f"{losses['g']:.3f}")
        if not distributed.is_main():  # rank 0 alone writes checkpoints, grids and scores
            continue
        if ckpt is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == total):
            save_training_state(ckpt, settings, step + 1, time.perf_counter() - t0, losses, parts, rng)
        if out is not None and (step + 1) % grid_every == 0 and step + 1 < total:
            snapshot = save_progress_grid(ema, grid_path(out), seed)
            if monitor is not None:
                log_scores(out, step + 1, monitor(step + 1, snapshot))
    bar.close()
    seconds = time.perf_counter() - t0

    ema.calibrate(make_generator(seed + 1), batch_size=batch_size)  # standing stats for the EMA weights
    prior = ema.eval().requires_grad_(False)
    record = training_record(train, arch, data_hash, settings, max(total, start), seconds, losses)
    record["distributed"] = distributed.describe()
    if out is not None and distributed.is_main():
        save_sample_grid(prior, grid_path(out), seed=seed)
        save_prior(prior, out, record)
    return prior, record
