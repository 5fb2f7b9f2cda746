"""Gradient matching: DC (Zhao, Mopuri & Bilen, ICLR 2021) and DSA (Zhao & Bilen, ICML 2021).

For every class, the gradient of the cross-entropy loss w.r.t. the network's parameters
on a batch of real images is matched with the gradient on that class's synthetic images
(the latter with ``create_graph=True`` so the distance reaches the synthetic pixels); the
loss is the sum over classes of the distance of :mod:`.match` (``--dis-metric``).  DSA is
the same objective with one siamese augmentation draw per class, applied to that class's
real and synthetic images, and per-sample augmentation while the network trains on the
synthetic set.  Like every objective, it only sees pixels: it does not know whether they
come from a :class:`PixelSet` or from a generator.

Outer and inner loops (the paper's Algorithm 1 and the reference ``main.py``): a fresh
network at the start of each outer iteration; ``outer_loop`` synthetic updates with it;
between two of them the network trains ``inner_loop`` epochs (SGD, ``lr_net``, no
momentum, batches of ``batch_train``) on the detached synthetic set; no training after
the last update of an outer iteration.  **One engine iteration is one synthetic
update**, so ``iterations = outer iterations x outer_loop`` (the paper's 1000 outer
iterations at IPC 10 are 10 000 engine iterations; the presets convert).  The objective
keeps its position in the outer loop and the current network's weights in
:meth:`state_dict`, so a resumed run continues exactly where it stopped.

IPC rule (:func:`latentdd.presets.dc.loops_for_ipc`): the reference's ``get_loops`` table (IPC 1, 10, 20,
30, 40, 50); any other IPC takes the entry of the published IPC nearest to it in log
scale (IPC 2-3 -> IPC 1's (1, 1); 4-14 -> IPC 10's (10, 50); 100 -> IPC 50's (50, 10)).

BatchNorm networks: before each synthetic update the BN statistics are set from a batch
of real images of all classes (16 per class, as the reference) and frozen (BN layers in
eval mode) while the gradients are taken.  The reference forwards that batch in train
mode with the default momentum 0.1, so its frozen statistics are only 10% real and 90%
left over (the fresh (0, 1), or the statistics of the synthetic set it just trained
on); its comment says the intent is the real statistics, and that is what this does
(running statistics reset, cumulative average over the one batch) -- a deliberate
deviation, only for BN networks.  Instance-norm ConvNet (the default) is unaffected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import DSA
from ..errors import UserError
from ..memory_format import model_channels_last
from ..nets.fit import train_epoch
from ..presets.dc import loops_for_ipc
from ..seeding import seeded_global_rng
from .base import OBJECTIVES, Objective, ObjectiveContext, RealSampler
from .match import gradient_distance

#: real images per class that set the BN statistics (the reference's ``BNSizePC``)
BN_IMAGES_PER_CLASS = 16

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def resolve_loops(cfg: Any) -> tuple[int, int]:
    """The config's ``outer_loop``/``inner_loop``, each falling back to the IPC rule when None."""
    outer, inner = loops_for_ipc(int(cfg.ipc))
    outer = outer if cfg.outer_loop is None else int(cfg.outer_loop)
    inner = inner if cfg.inner_loop is None else int(cfg.inner_loop)
    if outer < 1:
        raise UserError(f"--outer-loop must be at least 1 (synthetic updates per network), got {outer}")
    if inner < 0:
        raise UserError(f"--inner-loop must be 0 or more (network training epochs), got {inner}")
    return outer, inner


def batchnorm_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, _BATCHNORMS)]


def freeze_batchnorm_on(net: nn.Module, images: torch.Tensor) -> None:
    """Set every BN layer's running statistics to those of ``images`` and freeze them.

    The rest of the network stays in train mode (as the reference); BN layers go to
    eval mode, so gradients are taken with these statistics."""
    layers = batchnorm_layers(net)
    if not layers:
        return
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, exactly its statistics
    net.train()
    with torch.no_grad():
        net(images)
    for m, momentum in zip(layers, momenta, strict=True):
        m.momentum = momentum
        m.eval()


def class_gradients(
    net: nn.Module, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, create_graph: bool
) -> list[torch.Tensor]:
    """d CE(net(x), y) / d params (mean over the batch, as the reference's criterion)."""
    loss = F.cross_entropy(net(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=create_graph)
    return list(grads) if create_graph else [g.detach() for g in grads]


@OBJECTIVES.register("dc")
class GradientMatching(Objective):
    """DC: per-class gradient matching, no augmentation (whatever ``--dsa`` says)."""

    name = "dc"

    def __init__(self, ctx: ObjectiveContext) -> None:
        super().__init__(ctx)
        self.outer_loop, self.inner_loop = resolve_loops(ctx.cfg)
        self.distance = gradient_distance(ctx.cfg.dis_metric)
        if ctx.cfg.batch_syn is not None and int(ctx.cfg.batch_syn) < 1:
            raise UserError(f"--batch-syn must be at least 1 (or none for all), got {ctx.cfg.batch_syn}")
        if int(ctx.cfg.batch_train) < 1:
            raise UserError(f"--batch-train must be at least 1, got {ctx.cfg.batch_train}")
        self.dsa = self._augmentation(ctx)
        self.net: nn.Module | None = None
        self.position = 0  # synthetic updates done with the current network

    def _augmentation(self, ctx: ObjectiveContext) -> DSA | None:
        """The siamese augmentation this method uses: none for DC."""
        return None

    # --- the loss --------------------------------------------------------------------
    def loss(
        self, real: RealSampler, syn: torch.Tensor, syn_labels: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        ctx = self.ctx
        if self.net is None:
            self.net = ctx.fresh_model(generator)
            self.position = 0
        net = self.net.train()
        net.zero_grad(set_to_none=True)  # the engine's backward leaves (unused) gradients here
        if batchnorm_layers(net):
            bn_images, _ = real.per_class(BN_IMAGES_PER_CLASS, generator)
            freeze_batchnorm_on(net, bn_images)
        real_x, real_y = real.per_class(ctx.cfg.batch_real, generator)
        syn_x, syn_y = self._syn_batch(syn, syn_labels, generator)
        if self.dsa is not None:
            draw = self.dsa.sample_per_class(ctx.num_classes, generator, device=syn.device)
            real_x = self.dsa.apply(real_x, draw, groups=real_y)
            syn_x = self.dsa.apply(syn_x, draw, groups=syn_y)
        params = [p for p in net.parameters() if p.requires_grad]
        total = syn.new_zeros(())
        for c in torch.unique(syn_y[ctx.owns(syn_y)]).tolist():  # under torchrun: this rank's classes
            mask = real_y == c
            g_real = class_gradients(net, params, real_x[mask], real_y[mask], create_graph=False)
            smask = syn_y == c
            g_syn = class_gradients(net, params, syn_x[smask], syn_y[smask], create_graph=True)
            total = total + self.distance(g_syn, g_real)
        return total

    def _syn_batch(
        self, syn: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All synthetic images, or ``batch_syn`` random ones of each class."""
        n = self.ctx.cfg.batch_syn
        if n is None:
            return syn, labels
        keep = []
        for c in torch.unique(labels).tolist():
            idx = (labels == c).nonzero().flatten()
            pick = torch.randperm(idx.numel(), generator=generator)[: int(n)]
            keep.append(idx[pick.to(idx.device)])
        sel = torch.cat(keep)
        return syn[sel], labels[sel]

    # --- between synthetic updates ------------------------------------------------------
    def after_step(
        self, decode: Callable[[], torch.Tensor], syn_labels: torch.Tensor, generator: torch.Generator
    ) -> None:
        """Advance the outer loop: drop the network after ``outer_loop`` updates, else train it."""
        if self.net is None:
            return
        self.position += 1
        if self.position >= self.outer_loop:
            self.net, self.position = None, 0
            return
        if self.inner_loop == 0:
            return
        with torch.no_grad():
            images = decode().detach()
        self.train_network(images, syn_labels.to(images.device), generator)

    def discard_step(self) -> None:
        """A non-finite gradient may come from the network itself: match against a fresh one next."""
        self.net, self.position = None, 0

    def train_network(self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> None:
        """``inner_loop`` epochs of plain SGD on the synthetic set (reference ``epoch('train')``)."""
        net = self.net
        assert net is not None
        net.train()
        optimizer = torch.optim.SGD(net.parameters(), lr=self.ctx.cfg.lr_net)
        batch = int(self.ctx.cfg.batch_train)
        for _ in range(self.inner_loop):  # DSA: per-sample draws, as the reference's seed=-1
            train_epoch(net, optimizer, images, labels, batch, generator, self.dsa)

    # --- resumable state ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"position": self.position, "has_net": self.net is not None}
        if self.net is not None:
            state["net"] = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = int(state.get("position", 0))
        self.net = None
        if state.get("has_net"):
            with seeded_global_rng(0):  # the weights are overwritten; keep the global RNG untouched
                # channels-last as fresh_model() builds it: other kernels would round differently and the
                # resumed run would drift from the uninterrupted one (found by bench/kill_soak.py)
                net = model_channels_last(self.ctx.model_factory().to(self.ctx.device))
            net.load_state_dict(state["net"])
            self.net = net.train()


@OBJECTIVES.register("dsa")
class SiameseGradientMatching(GradientMatching):
    """DSA: DC with differentiable siamese augmentation (needs ``--dsa`` on)."""

    name = "dsa"

    def _augmentation(self, ctx: ObjectiveContext) -> DSA | None:
        if ctx.dsa is None or not ctx.dsa.enabled:
            raise UserError(
                "method 'dsa' needs its augmentation: drop --no-dsa (or set dsa: true) and use a "
                "--dsa-strategy other than 'none' (e.g. color_crop_cutout_flip_scale_rotate), or use --method dc"
            )
        return ctx.dsa
