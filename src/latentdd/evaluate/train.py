"""Train one fresh network on a (synthetic) set under a protocol and test it.

This is the inner loop of every accuracy latentdd reports, so it is written for a
small in-memory training set: the images are one tensor on ``device``, each epoch is
a ``randperm`` over it (no DataLoader, no workers), and the test set streams through
in batches of 512.  All randomness comes from ``seed``: network initialization, the
minibatch order and the DSA draws each get their own ``torch.Generator`` derived from
it, so the same seed gives the same accuracy.

The accuracy is the one after the *last* epoch -- no early stopping or checkpoint
selection, which would select on the test set.

A long training (ResNet18 for 300 epochs is 40 minutes on one CPU core) can keep a
``checkpoint``: every few minutes the network, optimizer and random streams are saved, and
a new call with the same file continues from there with the same result as an
uninterrupted run, so a killed evaluation loses minutes, not the network.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..data.dataset import ImageDataset
from ..errors import UserError
from ..fileio import load_resume_state, save_resume_state
from ..nets import create_model
from ..nets.fit import restore_training, train_epoch, training_state
from ..seeding import draw_seed, make_generator, seeded_global_rng
from .protocols import EvalProtocol
from .speed import PLAIN, prepare

if TYPE_CHECKING:
    from ..augment import DSA

#: Builds a network: ``(name, channels, num_classes, image_size, **kwargs) -> nn.Module``.
ModelFactory = Callable[..., nn.Module]

TEST_BATCH = 512
LR_DECAY_FACTOR = 0.1
#: Seconds of training between two saves of a ``checkpoint`` (at the end of an epoch).
CHECKPOINT_EVERY_SECONDS = 300.0


@dataclass
class RunResult:
    """One trained network's test result.  Accuracies are in percent; ``per_class[c]``
    is ``None`` when the test set has no image of class ``c``."""

    accuracy: float
    per_class: list[float | None]
    train_seconds: float
    test_seconds: float
    lr: float
    fast_path: str = PLAIN  # "", "compiled" or "channels_last" (evaluate/speed.py)


def lr_schedule(protocol: EvalProtocol, lr: float | None = None) -> list[float]:
    """The learning rate of each epoch: ``lr`` (default ``protocol.lr``) until
    ``protocol.decay_epoch``, then divided by 10 (the DC step schedule).

    Unlike the DC reference code, which re-creates its optimizer at the decay (dropping
    the momentum buffer) and trains ``epochs + 1`` epochs, this trains exactly
    ``epochs`` and keeps the momentum: a one-step difference that keeps the loop plain.
    """
    base = protocol.lr if lr is None else float(lr)
    return [base if ep < protocol.decay_epoch else base * LR_DECAY_FACTOR for ep in range(protocol.epochs)]


def _default_factory() -> ModelFactory:
    return create_model


def _check_set(images: torch.Tensor, labels: torch.Tensor, test: ImageDataset) -> None:
    """Reject a training set that cannot be evaluated against ``test``, naming the fix."""
    if images.ndim != 4:
        raise UserError(f"synthetic images must be N x C x H x W, got shape {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise UserError("the synthetic set is empty; distill with --ipc 1 or more")
    if tuple(images.shape[1:]) != (test.channels, *test.image_size):
        raise UserError(
            f"the synthetic images are {'x'.join(map(str, images.shape[1:]))} but the test set "
            f"{test.name!r} is {test.channels}x{test.image_size[0]}x{test.image_size[1]}; "
            "evaluate against the dataset (and image size) the set was distilled from"
        )
    if labels.shape[0] != images.shape[0]:
        raise UserError(f"{images.shape[0]} synthetic images but {labels.shape[0]} labels")
    if labels.is_floating_point():
        if labels.ndim != 2 or labels.shape[1] != test.num_classes:
            raise UserError(
                f"soft labels must be N x {test.num_classes} (one column per class of {test.name!r}), "
                f"got shape {tuple(labels.shape)}"
            )
    else:
        if labels.ndim != 1:
            raise UserError(f"hard labels must be a 1-D integer tensor, got shape {tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= test.num_classes):
            raise UserError(
                f"labels must lie in 0..{test.num_classes - 1} (the classes of {test.name!r}), "
                f"got {int(labels.min())}..{int(labels.max())}"
            )


@torch.inference_mode()
def measure_accuracy(
    model: nn.Module, test: ImageDataset, device: torch.device | str = "cpu"
) -> tuple[float, list[float | None]]:
    """Overall and per-class accuracy (percent) of ``model`` on ``test``, in eval mode."""
    model.eval()
    correct = torch.zeros(test.num_classes, dtype=torch.long, device=device)
    for start in range(0, len(test), TEST_BATCH):
        x = test.images[start : start + TEST_BATCH].to(device, non_blocking=True)
        y = test.labels[start : start + TEST_BATCH].to(device, non_blocking=True)
        hit = model(x).argmax(dim=1) == y
        correct += torch.bincount(y[hit], minlength=test.num_classes)
    counts = test.class_counts()
    per_class = [100.0 * int(c) / n if n else None for c, n in zip(correct.tolist(), counts, strict=True)]
    accuracy = 100.0 * int(correct.sum()) / max(len(test), 1)
    return accuracy, per_class


def fit_network(
    model_name: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    test: ImageDataset,
    *,
    protocol: EvalProtocol,
    seed: int,
    dsa: DSA | None,
    device: torch.device | str = "cpu",
    lr: float | None = None,
    progress: bool = False,
    model_kwargs: dict[str, Any] | None = None,
    model_factory: ModelFactory | None = None,
    checkpoint: Path | None = None,
    fast_path: str = PLAIN,
) -> tuple[nn.Module, float, float]:
    """Train a fresh ``model_name`` on ``(images, labels)`` under ``protocol``; return the trained
    network (in train mode), the training seconds and the first epoch's learning rate.

    ``labels`` are class indices (int64, N) or soft labels (float, N x classes; the
    cross-entropy then uses them as target distributions).  ``lr`` replaces
    ``protocol.lr`` (the caller decides, e.g. an MTT set's learned rate).  ``dsa``
    augments every training batch with a fresh per-sample draw (``None``: no
    augmentation).  ``model_kwargs`` go to the model constructor (e.g. a ConvNet's
    ``width``/``depth``); ``model_factory`` replaces :func:`latentdd.nets.create_model`.
    ``checkpoint``: a file to resume from and save to (see the module docstring); it must
    belong to these exact arguments (the evaluation cache names it by their key), and the
    caller deletes it once the result is kept.  ``fast_path`` (:mod:`latentdd.evaluate.speed`)
    trains through ``torch.compile`` or in channels-last layout: faster for some architectures,
    the same figures in distribution, not bit for bit; the test pass runs the network eagerly.
    """
    device = torch.device(device)
    images = images.detach()
    labels = labels.detach()
    _check_set(images, labels, test)
    x = images.to(device=device, dtype=torch.float32)
    y = labels.to(device=device, dtype=torch.float32 if labels.is_floating_point() else torch.long)

    streams = make_generator(seed)
    model_seed, order_seed, aug_seed = (draw_seed(streams) for _ in range(3))
    order_gen = make_generator(order_seed)  # randperm on the CPU: identical order on every device
    aug_gen = make_generator(aug_seed, device=device)

    factory = model_factory or _default_factory()
    with seeded_global_rng(model_seed):
        model = factory(
            model_name, images.shape[1], test.num_classes, tuple(test.image_size), **(model_kwargs or {})
        )
    model = model.to(device)

    schedule = lr_schedule(protocol, lr)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=schedule[0], momentum=protocol.momentum, weight_decay=protocol.weight_decay
    )
    augment = dsa if dsa is not None and getattr(dsa, "enabled", True) else None
    forward = prepare(model, fast_path)

    first_epoch, trained_before = 0, 0.0
    state = load_resume_state(checkpoint) if checkpoint is not None else None
    if state is not None:
        restore_training(state, model, optimizer, order_gen, aug_gen)
        first_epoch, trained_before = int(state["epoch"]), float(state["train_seconds"])

    epochs: Any = range(first_epoch, protocol.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(
            epochs,
            desc=f"train {model_name}",
            leave=False,
            unit="ep",
            initial=first_epoch,
            total=protocol.epochs,
        )

    model.train()
    start = last_save = time.perf_counter()
    for epoch in epochs:
        for group in optimizer.param_groups:
            group["lr"] = schedule[epoch]
        train_epoch(model, optimizer, x, y, protocol.batch_size, order_gen, augment, aug_gen, forward)
        if (
            checkpoint is not None
            and epoch + 1 < protocol.epochs
            and time.perf_counter() - last_save >= CHECKPOINT_EVERY_SECONDS
        ):
            save_resume_state(
                checkpoint,
                {
                    "epoch": epoch + 1,
                    "train_seconds": trained_before + time.perf_counter() - start,
                    **training_state(model, optimizer, order_gen, aug_gen),
                },
            )
            last_save = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return model, trained_before + time.perf_counter() - start, schedule[0]


def train_and_test(
    model_name: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    test: ImageDataset,
    *,
    device: torch.device | str = "cpu",
    fast_path: str = PLAIN,
    **kwargs: Any,
) -> RunResult:
    """Train a fresh ``model_name`` on ``(images, labels)`` (:func:`fit_network`, same arguments)
    and test it on ``test``: the figure every accuracy table reports."""
    model, train_seconds, lr = fit_network(
        model_name, images, labels, test, device=device, fast_path=fast_path, **kwargs
    )
    start = time.perf_counter()
    accuracy, per_class = measure_accuracy(model, test, torch.device(device))
    return RunResult(accuracy, per_class, train_seconds, time.perf_counter() - start, lr, fast_path)
