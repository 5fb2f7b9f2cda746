"""``--layer auto``: choose GLaD's split layer k on a validation split carved from training data.

The criterion is the one the question is about -- how well a *held-out* architecture learns from
the synthetic set -- measured cheaply:

1. hold out ``layer_auto_val_per_class`` training images per class (seeded; the test set is never
   touched);
2. for each candidate layer, distill from the remaining images for ``layer_auto_iterations``
   iterations (same objective, IPC, prior, learning rates and seed as the real run);
3. train each scorer in ``layer_auto_models`` (default AlexNet, not the distillation ConvNet) on the
   short run's images for ``layer_auto_epochs`` epochs and measure accuracy on the held-out images;
4. pick the layer with the highest mean accuracy (ties go to the earlier layer: more of the
   prior's regularization).

Cost: ``candidates x (iterations + scorers x epochs)``; the record of what was tried, the scores
and the seconds spent is written to ``config.yaml`` (``extra.layer_auto``) and ``distill.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ..config import DistillConfig
from ..data.dataset import DatasetSplits
from ..errors import UserError
from ..evaluate.protocols import EvalProtocol
from ..evaluate.train import train_and_test
from ..fileio import atomic_write_json
from ..objectives import RealSampler
from ..seeding import make_generator
from .build import build_objective, build_synset, load_run_prior
from .checkpoint import load_checkpoint, save_checkpoint
from .steps import make_optimizer, run_iterations
from .walk import shape_as_saved

log = logging.getLogger("latentdd.engine")


def candidate_layers(cfg: DistillConfig, num_layers: int) -> list[int]:
    if not cfg.layer_candidates:
        return list(range(num_layers))
    try:
        layers = sorted({int(c) for c in cfg.layer_candidates})
    except ValueError:
        raise UserError(f"--layer-candidates must be layer indices, got {cfg.layer_candidates}") from None
    bad = [k for k in layers if not 0 <= k < num_layers]
    if bad:
        raise UserError(
            f"--layer-candidates {bad} do not exist in this prior; choose between 0 and {num_layers - 1}"
        )
    return layers


def validation_splits(cfg: DistillConfig, splits: DatasetSplits) -> DatasetSplits:
    """Training data minus ``layer_auto_val_per_class`` images per class, which become the "test"
    split of the returned splits (seeded, so every candidate sees the same validation images)."""
    fit, held_out = splits.train.split_off(cfg.layer_auto_val_per_class, make_generator(cfg.seed + 7919))
    if min(fit.class_counts()) < cfg.ipc:
        raise UserError(
            f"after holding out {cfg.layer_auto_val_per_class} images per class for --layer auto, "
            f"a class has fewer than --ipc {cfg.ipc} left; lower --layer-auto-val-per-class"
        )
    return dataclasses.replace(splits, train=fit, test=held_out)


@dataclasses.dataclass
class LayerScore:
    """What one short distillation scored: the mean over scorers, each scorer's mean over seeds, every
    seed's accuracy (one AlexNet seed at chance shows there, not only as a low mean), the images."""

    mean: float
    per_model: dict[str, float]
    runs: dict[str, list[float]]
    images: torch.Tensor


#: a resumable validation checkpoints its short distillation every this many iterations (seconds apart)
RESUME_EVERY_ITERATIONS = 20


def score_layer(
    cfg: DistillConfig,
    layer: int,
    splits: DatasetSplits,
    device: torch.device,
    progress: bool,
    resume: Path | None = None,
) -> LayerScore:
    """Short distillation at ``layer`` on ``splits.train``, scored on ``splits.test`` by each scorer
    over ``layer_auto_seeds`` seeds.

    ``resume``: a folder keeping the distillation's checkpoint and each scorer's accuracy, so a killed
    validation continues where it stopped with the same result (an MTT variant on CIFAR-10 is about 40
    minutes of one core); ``bench/validate_variants.py`` gives one per variant."""

    # compile "auto" stays off for the default 50 iterations and pays off for longer probes
    every = RESUME_EVERY_ITERATIONS if resume is not None else 0
    short = dataclasses.replace(
        cfg, layer=layer, iterations=cfg.layer_auto_iterations, checkpoint_every=every
    )
    generator = make_generator(cfg.seed)
    synset, _ = build_synset(short, splits, generator, device)
    objective = build_objective(short, splits, device)
    optimizer = make_optimizer(short, synset)
    state: dict[str, Any] = {"iteration": 0, "losses": [], "seconds": 0.0}
    checkpoint = resume / "distill.pt" if resume is not None else None
    if checkpoint is not None and checkpoint.is_file():
        prepare = shape_as_saved(short, synset, optimizer)
        state = load_checkpoint(checkpoint, synset, optimizer, generator, objective, prepare=prepare)

    def save() -> None:
        if checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(checkpoint, state, synset, optimizer, generator, objective)

    if state["iteration"] < short.iterations:
        run_iterations(
            short,
            synset,
            objective,
            RealSampler(splits.train, device),
            optimizer,
            generator,
            state,
            progress,
            on_checkpoint=save,
            desc=f"layer {layer}",
        )
        save()  # a kill while the scorers train keeps the distillation
    images, labels = synset.decode().detach(), synset.labels
    scored_images, test = images, splits.test
    zca = getattr(objective, "zca", None)
    if zca is not None:  # MTT with ZCA: scorers train and test on whitened inputs, as its evaluation does
        with torch.no_grad():
            scored_images, test = zca.apply(images), zca.apply_dataset(splits.test)
    protocol = EvalProtocol("layer-auto", epochs=cfg.layer_auto_epochs, runs=1, models=cfg.layer_auto_models)
    dsa = protocol.make_dsa(digits=splits.digits)
    finished = resume / "scores.json" if resume is not None else None
    accuracy: dict[str, float] = json.loads(finished.read_text()) if finished and finished.is_file() else {}
    runs: dict[str, list[float]] = {}
    for model in protocol.models:
        for seed in range(cfg.seed, cfg.seed + cfg.layer_auto_seeds):
            key = f"{model}/{seed}"
            if key not in accuracy:
                accuracy[key] = train_and_test(
                    model, scored_images, labels, test, protocol=protocol, seed=seed, dsa=dsa, device=device
                ).accuracy
                if finished is not None:
                    atomic_write_json(finished, accuracy)
            runs.setdefault(model, []).append(accuracy[key])
    per_model = {model: statistics.fmean(accuracies) for model, accuracies in runs.items()}
    return LayerScore(statistics.fmean(per_model.values()), per_model, runs, images)


def choose_layer(
    cfg: DistillConfig, splits: DatasetSplits, device: torch.device, progress: bool = True
) -> tuple[int, dict[str, Any]]:
    """Return ``(layer, record)``; ``record`` says what was tried, the scores and the cost."""
    started = time.perf_counter()
    prior, _ = load_run_prior(cfg, splits, device)
    layers = candidate_layers(cfg, prior.num_layers)
    del prior
    val_splits = validation_splits(cfg, splits)
    scores: dict[int, float] = {}
    per_model: dict[int, dict[str, float]] = {}
    for k in layers:
        scored = score_layer(cfg, k, val_splits, device, progress)
        scores[k], per_model[k] = scored.mean, scored.per_model
        log.info("--layer auto: layer %d scores %.2f%% on the validation split", k, scores[k])
    best = max(layers, key=lambda k: (scores[k], -k))
    record = {
        "chosen": best,
        "criterion": (
            f"mean validation accuracy of {', '.join(cfg.layer_auto_models)} trained "
            f"{cfg.layer_auto_epochs} epochs on a {cfg.layer_auto_iterations}-iteration distillation"
        ),
        "validation_per_class": cfg.layer_auto_val_per_class,
        "scores": {str(k): round(v, 3) for k, v in scores.items()},
        "scores_per_model": {str(k): {m: round(a, 3) for m, a in v.items()} for k, v in per_model.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    log.info("--layer auto chose layer %d in %.0f s (scores %s)", best, record["seconds"], record["scores"])
    return best, record
