"""Turn a config into the parts the loop composes: synthetic set, objective, sampler."""

from __future__ import annotations

from typing import Any

import torch

from .. import distributed
from ..augment import make_dsa
from ..compile import choose_embed
from ..config import DistillConfig
from ..data.dataset import DatasetSplits
from ..errors import UserError
from ..nets import create_model
from ..objectives import OBJECTIVES, Objective, ObjectiveContext
from ..priors.base import Prior
from ..priors.loading.resolve import resolve_prior
from ..synth.base import SyntheticSet
from ..synth.latent import LatentSet
from ..synth.pixel import PixelSet


def check_ipc(cfg: DistillConfig, splits: DatasetSplits) -> None:
    counts = splits.train.class_counts()
    smallest = min(counts)
    if cfg.ipc > smallest:
        cls = splits.train.classes[counts.index(smallest)]
        raise UserError(
            f"--ipc {cfg.ipc} is larger than class {cls!r}, which has only {smallest} training images; "
            f"use --ipc {smallest} or less"
        )


def build_synset(
    cfg: DistillConfig, splits: DatasetSplits, generator: torch.Generator, device: torch.device
) -> tuple[SyntheticSet, dict[str, Any] | None]:
    train = splits.train
    labels = torch.arange(train.num_classes).repeat_interleave(cfg.ipc)
    if cfg.space == "pixel":
        if cfg.init in ("real", "auto"):
            idx = train.sample_per_class(cfg.ipc, generator, replace_if_short=False)
            images = train.images[idx]
        else:
            images = torch.randn((labels.numel(), train.channels, *train.image_size), generator=generator)
        return PixelSet(images, labels, train.num_classes).to(device), None
    prior, record = load_run_prior(cfg, splits, device)
    if cfg.walk_to is not None:
        check_walk(cfg.walk_to, prior)
    init_images = None
    if start_from_real_images(cfg.init, prior):  # encoded (autoencoders) or inverted (GANs); else samples
        init_images = train.images[train.sample_per_class(cfg.ipc, generator, replace_if_short=False)].to(
            device
        )
    synset = LatentSet(
        prior.to(device),
        int(cfg.layer),
        labels.to(device),
        train.num_classes,
        train.mean,
        train.std,
        generator,
        chunk=cfg.decode_chunk,
        init_images=init_images,
        learn_prior=cfg.learn_prior,
        feat_radius=cfg.feat_radius,
        invert_steps=cfg.invert_steps,
        invert_lr=cfg.invert_lr,
    )
    return synset, record


def check_walk(walk_to: int, prior: Prior) -> None:
    """``--walk-to`` needs a layer the prior has and a prior that can carry feature maps forward."""
    if walk_to >= prior.num_layers:
        raise UserError(
            f"--walk-to {walk_to} does not exist in this prior; choose a layer up to {prior.num_layers - 1}"
        )
    prior.require_advance()


def start_from_real_images(init: str, prior: object) -> bool:
    """Latent space: ``real`` always (encode or invert), ``sample``/``noise`` never, ``auto`` when the
    prior has an encoder -- GAN inversion alone lost to GLaD's samples on validation (issue 15)."""
    if init == "auto":
        return callable(getattr(prior, "init_from_images", None))
    return init == "real"


def load_run_prior(cfg: DistillConfig, splits: DatasetSplits, device: torch.device):
    """The run's prior and its provenance record (with what the user declared about it)."""
    if not cfg.prior:
        raise UserError(
            "--space latent needs a prior: pass --prior FILE (latentdd prior train) or --prior random"
        )
    train = splits.train
    return resolve_prior(
        cfg.prior,
        num_classes=train.num_classes,
        channels=train.channels,
        image_size=train.image_size[0],
        seed=cfg.seed,
        device=device,
        license=cfg.prior_license,
        source=cfg.prior_source,
        trust_pickle=cfg.trust_pickle,
    )


def build_objective(cfg: DistillConfig, splits: DatasetSplits, device: torch.device) -> Objective:
    train = splits.train
    ctx = ObjectiveContext(
        cfg=cfg,
        num_classes=train.num_classes,
        channels=train.channels,
        image_size=train.image_size,
        device=device,
        dsa=make_dsa(cfg.dsa_strategy, digits=splits.digits) if cfg.dsa else None,
        model_factory=lambda: create_model(
            cfg.model, train.channels, train.num_classes, train.image_size, **cfg.model_args
        ),
        embed=choose_embed(cfg.compile, cfg.iterations, device),
    )
    ctx.model_factory()  # fail early on a bad model name or argument
    if distributed.world_size() > 1:
        if cfg.method not in CLASS_SHARDED + DATA_PARALLEL:
            raise UserError(
                f"--method {cfg.method} does not run on several processes yet (distributed: "
                f"{', '.join(sorted(CLASS_SHARDED + DATA_PARALLEL))}); run it as one process, without torchrun"
            )
    if distributed.world_size() > 1 and cfg.method in CLASS_SHARDED:
        if distributed.world_size() > train.num_classes:
            raise UserError(
                f"{distributed.world_size()} processes for {train.num_classes} classes: each rank owns whole "
                f"classes, so start at most {train.num_classes} (torchrun --nproc-per-node)"
            )
        ctx.owned = distributed.owned_classes(train.num_classes, device)
    return OBJECTIVES.get(cfg.method)(ctx)


#: objectives whose loss is a sum of per-class terms, so ranks can own classes (distributed.py)
CLASS_SHARDED = ("dm", "dc", "dsa")
#: objectives that share out something else under torchrun (MTT: one expert trajectory per rank)
DATA_PARALLEL = ("mtt",)
