"""Training of the in-project autoencoder prior (``latentdd prior train --arch ae``).

Latent diffusion's first-stage objective without its perceptual and adversarial terms (they need
downloaded VGG weights and GPU time): per image, the L1 reconstruction error summed over pixels plus
``kl_weight`` times the KL divergence of the posterior from N(0, I), with the latent *sampled* from
the posterior -- the noise teaches the decoder to map a neighbourhood of each latent to an image,
which is what keeps distilled latents on the manifold.  Adam at a constant rate; the saved prior is
an exponential moving average (EMA) of the weights, with a warm-up.  After the last step the trainer sets latent
diffusion's scaling factor (``1 / std`` of the encoded data) and fits one latent Gaussian per class.

Files beside ``out`` as for the GAN trainer: ``<stem>.ckpt.pt`` (resumable; more ``--steps``
continues), ``<stem>.grid.png`` (reconstructions of fixed training images while training, class
samples at the end) and the prior file.
"""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Any

import torch
from torchvision.utils import save_image

from ... import distributed
from ...errors import UserError
from ...fileio import atomic_write
from ...seeding import make_generator, seeded_global_rng
from ..loading.io import save_prior
from ..models.kl_autoencoder import ARCH, KLAutoencoderPrior
from .gan import dataset_fingerprint, ema_update, real_batch, save_sample_grid, training_record
from .gan import total_steps as count_steps
from .progress import Monitor, TrainingProgress, grid_path

if TYPE_CHECKING:
    from ...data.dataset import ImageDataset

#: The EMA's decay at step t is min(ema_decay, (1 + t) / (10 + t)): without this warm-up the average
#: of a 3000-step run still held 5 % of the random initial weights, and at step 1000 its CIFAR-10
#: reconstructions were grey blurs while the trained weights' were sharp.
EMA_WARMUP = "(1+t)/(10+t)"
#: images per class encoded to fit the class Gaussians and the scaling factor
STATS_PER_CLASS = 500


def _kl_loss(
    vae: torch.nn.Module, real: torch.Tensor, kl_weight: float
) -> tuple[torch.Tensor, dict[str, float]]:
    posterior = vae.encode(real).latent_dist
    recon = vae.decode(posterior.sample()).sample
    rec = (recon - real).abs().flatten(1).sum(1).mean()
    kl = posterior.kl().mean()
    per_pixel = rec.item() / real[0].numel()
    return rec + kl_weight * kl, {"l1": per_pixel, "kl": kl.item()}


@torch.no_grad()
def _save_reconstructions(prior: KLAutoencoderPrior, real: torch.Tensor, path: os.PathLike | str) -> None:
    """Originals (odd rows) above their reconstructions (even rows), up to 8 per row."""
    recon = prior.vae.decode(prior.vae.encode(real).latent_dist.mode()).sample
    per_row = min(8, real.shape[0])
    rows = real.shape[0] // per_row
    real, recon = real[: rows * per_row], recon[: rows * per_row]
    pairs = torch.stack(
        [real.view(rows, per_row, *real.shape[1:]), recon.view(rows, per_row, *real.shape[1:])], 1
    )
    images = ((pairs.reshape(-1, *real.shape[1:]) + 1) / 2).clamp(0, 1).cpu()
    atomic_write(path, lambda tmp: save_image(images, tmp, nrow=per_row, padding=2, format="png"))


@torch.no_grad()
def finish_autoencoder(
    prior: KLAutoencoderPrior, train: ImageDataset, size: int, seed: int
) -> dict[str, float]:
    """Scaling factor and class Gaussians from up to :data:`STATS_PER_CLASS` encoded images per class."""
    device = prior.class_mean.device
    gen = make_generator(seed + 2)
    per_class = min(STATS_PER_CLASS, min(train.class_counts()))
    idx = train.sample_per_class(per_class, gen, replace_if_short=False)
    latents, labels = [], []
    for part in idx.split(256):
        real, y = real_batch(train, part, size, device)
        latents.append(prior.vae.encode(real).latent_dist.mode())
        labels.append(y)
    z, y = torch.cat(latents), torch.cat(labels)
    std = float(z.std())
    prior.set_scaling_factor(1.0 / max(std, 1e-6))
    prior.fit_class_gaussians((z - prior.shift_factor) * prior.scaling_factor, y)
    return {"latent_std": std, "scaling_factor": prior.scaling_factor}


def train_autoencoder(
    train: ImageDataset,
    *,
    epochs: float | None = None,
    steps: int | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    kl_weight: float = 1e-5,
    ema_decay: float = 0.999,
    seed: int = 0,
    device: str | torch.device = "cpu",
    out: str | os.PathLike | None = None,
    checkpoint_every: int = 250,
    grid_every: int = 500,
    progress: bool = True,
    image_size: int | None = None,
    arch: str = ARCH,
    monitor: Monitor | None = None,
    **arch_kwargs: Any,
) -> tuple[KLAutoencoderPrior, dict[str, Any]]:
    """Train a :class:`KLAutoencoderPrior` on ``train``; return the frozen prior and its record.

    Arguments mean what they mean for :func:`~.train.train_prior`; ``kl_weight`` weighs the KL
    term against the per-image L1 sum.  All randomness flows from ``seed``.
    """
    device = torch.device(device)
    n = len(train)
    if n == 0:
        raise UserError(f"dataset {train.name!r} has no training images; cannot train a prior")
    size = int(image_size or max(train.image_size))
    total = count_steps(epochs, steps, n, batch_size)
    with seeded_global_rng(seed):
        model = KLAutoencoderPrior(train.num_classes, train.channels, size, **arch_kwargs).to(device)
    ema = copy.deepcopy(model)
    model.vae.requires_grad_(True)  # the prior class freezes its network; training unfreezes it
    opt = torch.optim.Adam(model.vae.parameters(), lr=lr)
    rng = make_generator(seed)
    data_hash = dataset_fingerprint(train)
    settings = {
        "arch": arch,
        "config": model.config(),
        "batch_size": batch_size,
        "lr": lr,
        "kl_weight": kl_weight,
        "ema_decay": ema_decay,
        "ema_warmup": EMA_WARMUP,
        "seed": seed,
        "dataset_sha256": data_hash,
    }
    shown = real_batch(train, torch.randperm(n, generator=make_generator(seed + 3))[:32], size, device)[0]

    def draw_grid() -> KLAutoencoderPrior:
        """Reconstructions of fixed images; a finished copy for the monitor (when there is one)."""
        _save_reconstructions(ema, shown, grid_path(out))
        if monitor is None:
            return ema
        snapshot = copy.deepcopy(ema).eval()
        finish_autoencoder(snapshot, train, size, seed)
        return snapshot

    run = TrainingProgress(
        what="autoencoder",
        out=out,
        total=total,
        settings=settings,
        parts={"model": model, "ema": ema, "opt": opt},
        rng=rng,
        losses={"l1": float("nan"), "kl": float("nan")},
        checkpoint_every=checkpoint_every,
        grid_every=grid_every,
        progress=progress,
        monitor=monitor,
        draw_grid=draw_grid,
    )
    model.train()
    for step in run.steps():
        idx = torch.randint(0, n, (batch_size,), generator=rng)
        idx = idx[distributed.rank() :: distributed.world_size()]  # under torchrun: this rank's slice
        real, _ = real_batch(train, idx, size, device)
        # the posterior sample draws from the global RNG (diffusers' API): seed it from ours
        with seeded_global_rng(int(torch.randint(0, 2**62, (1,), generator=rng))):
            loss, losses = _kl_loss(model.vae, real, kl_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        distributed.average_gradients_(model.vae.parameters())  # the global batch's gradient
        opt.step()
        ema_update(ema, model, min(ema_decay, (1 + step) / (10 + step)))
        run.after_step(step, losses)
    weights_step, seconds = run.finish()

    prior = ema.eval().requires_grad_(False)
    stats = finish_autoencoder(prior, train, size, seed)
    record = training_record(train, arch, data_hash, settings, weights_step, seconds, run.losses)
    record["latent"] = stats
    record["distributed"] = distributed.describe()
    if out is not None and distributed.is_main():
        save_sample_grid(prior, grid_path(out), seed=seed)
        _save_reconstructions(prior, shown, grid_path(out).with_suffix(".recon.png"))
        save_prior(prior, out, record)
    return prior, record
