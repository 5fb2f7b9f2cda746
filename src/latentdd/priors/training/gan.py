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
import math
import os
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torchvision.utils import save_image

from ... import distributed
from ...augment.diffaugment import DiffAugment
from ...errors import UserError
from ...fileio import atomic_write
from ...seeding import draw_seed, make_generator, seeded_global_rng
from ..base import Prior
from ..loading.io import save_prior
from ..models import PRIORS  # the package registers every built-in architecture
from ..recommended import recommended_for_arch
from .discriminator import ProjectionDiscriminator
from .progress import Monitor, TrainingProgress, grid_path
from .state import GeneratorState

if TYPE_CHECKING:  # priors only need the ImageDataset interface, not the data package at import time
    from ...data.dataset import ImageDataset

#: default length of ``latentdd prior train`` -- a few minutes on a 2-core CPU for MNIST
DEFAULT_STEPS = 1000
#: generator size for CPU training (narrower last stage than the constructor's default)
DEFAULT_ARCH: dict[str, Any] = {"base_channels": 128, "min_channels": 16}


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
    run = TrainingProgress(
        what="prior",
        out=out,
        total=total,
        settings=settings,
        parts=parts,
        rng=rng,
        losses={"d": float("nan"), "g": float("nan")},
        checkpoint_every=checkpoint_every,
        grid_every=grid_every,
        progress=progress,
        monitor=monitor,
        draw_grid=lambda: save_progress_grid(ema, grid_path(out), seed),
    )
    gen.train()
    disc.train()
    for step in run.steps():
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

        run.after_step(step, {"d": d_loss.item(), "g": g_loss.item()})
    weights_step, seconds = run.finish()

    ema.calibrate(make_generator(seed + 1), batch_size=batch_size)  # standing stats for the EMA weights
    prior = ema.eval().requires_grad_(False)
    record = training_record(train, arch, data_hash, settings, weights_step, seconds, run.losses)
    record["distributed"] = distributed.describe()
    if out is not None and distributed.is_main():
        save_sample_grid(prior, grid_path(out), seed=seed)
        save_prior(prior, out, record)
    return prior, record
