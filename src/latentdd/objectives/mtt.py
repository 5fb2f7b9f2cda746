"""Trajectory matching, MTT (Cazenavette et al., CVPR 2022), with a constant-memory gradient.

Each iteration picks an expert and a start epoch ``s`` (uniform in ``[0, max_start_epoch)``);
a student starts from the expert's parameters at ``s``, takes ``syn_steps`` SGD steps
with the learnable step size ``syn_lr`` on mini-batches of the (DSA-augmented) synthetic
images, and the loss is how far it lands from the expert at ``s + expert_epochs``,
relative to how far the expert itself moved:

    L = ||theta_N - theta*||^2 / ||theta_0 - theta*||^2,   theta_i = theta_{i-1} - a g_i(theta_{i-1}, X_i)

Memory.  Back-propagating through the unrolled student (the reference) keeps every
step's graph, so memory grows with ``syn_steps``.  Here the gradient is computed by
reverse-mode accumulation in two passes, as in TESLA (Cui et al., ICML 2023): a
forward pass without graph that keeps only the parameter vectors ``theta_i``, then a
backward pass that walks the steps in reverse, rebuilding one step's graph at a time
with the adjoint ``lam = dL/dtheta_i``:

    dL/dX_i  += -a (dg_i/dX_i)^T lam        dL/da += -lam . g_i
    lam      <- lam - a (dg_i/dtheta)^T lam  (one Hessian-vector product)

TESLA's released code detaches the student between steps and so drops the last line's
Hessian term; keeping it makes this gradient *equal* to the unrolled one (tested), at
the same cost per step.  Peak memory is one step's double-backward graph plus the
parameter vectors (``P`` floats per step: 1.3 MB for ConvNet-3 on 32x32).

The objective hands the engine a loss whose ``backward()`` delivers these precomputed
gradients to the synthetic pixels and to ``syn_lr`` (:class:`_Precomputed`), so the
engine's loop is the same as for every other objective.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from .. import distributed
from ..data.zca import ZCA
from ..errors import UserError
from ..experts.buffer import ExpertBuffer
from ..seeding import draw_seed, make_generator, seeded_global_rng
from .base import OBJECTIVES, Objective, ObjectiveContext, RealSampler

log = logging.getLogger("latentdd.mtt")

#: MTT's optimizer of the step size: SGD(lr=lr_lr, momentum=0.5)
LR_MOMENTUM = 0.5

#: ``step_loss(theta, images, labels, seed)``: the student's training loss at flat
#: parameters ``theta`` on one augmented mini-batch (``seed`` replays its augmentation).
StepLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]


# --------------------------------------------------------------------------- the student
@dataclass
class ParamLayout:
    """How a flat parameter vector maps onto a network's named parameters."""

    names: list[str]
    shapes: list[torch.Size]

    @classmethod
    def of(cls, net: nn.Module) -> ParamLayout:
        named = list(net.named_parameters())
        return cls([n for n, _ in named], [p.shape for _, p in named])

    @property
    def numels(self) -> list[int]:
        return [math.prod(s) for s in self.shapes]

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``flat`` by parameter name (gradients flow back to ``flat``)."""
        return {
            n: t.view(s) for n, t, s in zip(self.names, flat.split(self.numels), self.shapes, strict=True)
        }


def make_step_loss(net: nn.Module, layout: ParamLayout, dsa: Callable | None) -> StepLoss:
    """Cross-entropy of ``net`` run with parameters ``theta`` (``torch.func.functional_call``)
    on a mini-batch augmented by ``dsa(x, generator)`` drawn from ``seed``."""

    def step_loss(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        if dsa is not None:
            x = dsa(x, make_generator(seed))
        return F.cross_entropy(functional_call(net, layout.unflatten(theta), (x,)), y)

    return step_loss


@dataclass
class UnrollPlan:
    """Which synthetic images each student step sees, and the seed of its augmentation."""

    batches: list[torch.Tensor]
    seeds: list[int]

    @classmethod
    def draw(cls, n: int, steps: int, batch: int, generator: torch.Generator) -> UnrollPlan:
        """MTT's batching: shuffle, split into ``batch``-sized chunks, use them from the
        last, reshuffle when they run out."""
        batches: list[torch.Tensor] = []
        seeds: list[int] = []
        chunks: list[torch.Tensor] = []
        for _ in range(steps):
            if not chunks:
                chunks = list(torch.split(torch.randperm(n, generator=generator), batch))
            batches.append(chunks.pop())
            seeds.append(draw_seed(generator))
        return cls(batches, seeds)

    def to(self, device: torch.device) -> UnrollPlan:
        return UnrollPlan([b.to(device) for b in self.batches], self.seeds)


# --------------------------------------------------------------------------- the gradient
@dataclass
class MatchResult:
    loss: torch.Tensor  # scalar, no graph
    grad_images: torch.Tensor | None  # dL/dimages; None when the loss is not finite
    grad_lr: torch.Tensor | None  # dL/dsyn_lr


def _distance_scale(theta0: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    scale = (theta0 - target).pow(2).sum()
    if not scale > 0:
        raise UserError(
            "the expert did not move between the start and the target epoch (identical parameters); "
            "its trajectory is unusable -- train the experts again with a learning rate > 0"
        )
    return scale


def match_gradient(
    step_loss: StepLoss,
    theta0: torch.Tensor,
    target: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    plan: UnrollPlan,
    lr: float,
) -> MatchResult:
    """Loss and exact gradients w.r.t. ``images`` and the step size, in memory that does
    not grow with the number of steps beyond one parameter vector per step."""
    scale = _distance_scale(theta0, target)
    thetas: list[torch.Tensor | None] = []
    theta = theta0.detach()
    for idx, seed in zip(plan.batches, plan.seeds, strict=True):
        thetas.append(theta)
        with torch.enable_grad():
            leaf = theta.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(step_loss(leaf, images[idx], labels[idx], seed), leaf)
        theta = theta - lr * g
    diff = theta - target
    loss = diff.pow(2).sum() / scale
    if not torch.isfinite(loss):
        return MatchResult(loss, None, None)

    adjoint = 2.0 * diff / scale  # dL/dtheta_N
    grad_images = torch.zeros_like(images)
    grad_lr = torch.zeros((), dtype=theta.dtype, device=theta.device)
    for i in reversed(range(len(thetas))):
        idx, seed = plan.batches[i], plan.seeds[i]
        with torch.enable_grad():
            leaf = thetas[i].detach().requires_grad_(True)  # type: ignore[union-attr]
            xb = images[idx].detach().requires_grad_(True)
            (g,) = torch.autograd.grad(step_loss(leaf, xb, labels[idx], seed), leaf, create_graph=True)
            grad_lr -= (adjoint * g.detach()).sum()
            h_theta, h_x = torch.autograd.grad(g, (leaf, xb), grad_outputs=adjoint)
        grad_images.index_add_(0, idx, h_x, alpha=-lr)
        adjoint = adjoint - lr * h_theta
        thetas[i] = None  # free as we go
    return MatchResult(loss.detach(), grad_images, grad_lr)


def match_unrolled(
    step_loss: StepLoss,
    theta0: torch.Tensor,
    target: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    plan: UnrollPlan,
    lr: torch.Tensor,
) -> torch.Tensor:
    """The reference: the loss with the whole unrolled student in one graph (memory grows
    with the steps).  Differentiable w.r.t. ``images`` and ``lr``; used to check
    :func:`match_gradient` and by the memory benchmark."""
    scale = _distance_scale(theta0, target)
    theta = theta0.detach().requires_grad_(True)
    for idx, seed in zip(plan.batches, plan.seeds, strict=True):
        (g,) = torch.autograd.grad(step_loss(theta, images[idx], labels[idx], seed), theta, create_graph=True)
        theta = theta - lr * g
    return (theta - target).pow(2).sum() / scale


class _Precomputed(torch.autograd.Function):
    """Returns ``value``; its backward hands out gradients computed beforehand."""

    @staticmethod
    def forward(
        ctx: Any,
        images: torch.Tensor,
        lr: torch.Tensor,
        value: torch.Tensor,  # type: ignore[override]
        grad_images: torch.Tensor,
        grad_lr: torch.Tensor,
    ) -> torch.Tensor:
        ctx.save_for_backward(grad_images, grad_lr)
        return value.detach().clone()

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        grad_images, grad_lr = ctx.saved_tensors
        return grad_out * grad_images, grad_out * grad_lr, None, None, None


# --------------------------------------------------------------------------- the objective
@OBJECTIVES.register("mtt")
class TrajectoryMatching(Objective):
    """MTT over an expert buffer (``--experts DIR``) with a learned student step size."""

    name = "mtt"

    def __init__(self, ctx: ObjectiveContext) -> None:
        super().__init__(ctx)
        cfg = ctx.cfg
        if not cfg.experts:
            raise UserError(
                "--method mtt needs expert trajectories: train them with `latentdd experts --dataset "
                f"{cfg.dataset} --num 5 --epochs 15 --out EXPERTS` and pass --experts EXPERTS"
            )
        self.buffer = ExpertBuffer(cfg.experts)
        self._check_buffer()
        with seeded_global_rng(0):  # the architecture only; its weights are always replaced
            net = ctx.model_factory()
        self.net = net.to(ctx.device).train().requires_grad_(False)
        self.layout = ParamLayout.of(self.net)
        self._check_layout()
        self.zca: ZCA | None = self.buffer.zca()
        if self.zca is not None:
            self.zca = self.zca.to(ctx.device)
        self.step_loss = make_step_loss(self.net, self.layout, ctx.dsa)
        self.syn_lr = torch.tensor(float(cfg.lr_teacher), device=ctx.device, requires_grad=True)
        self.lr_optimizer = torch.optim.SGD([self.syn_lr], lr=cfg.lr_lr, momentum=LR_MOMENTUM)
        self.last_good_lr = float(cfg.lr_teacher)
        self.iteration = 0

    # -- checks: fail while building, before the run folder exists --------------------
    def _check_buffer(self) -> None:
        cfg, s, folder = self.ctx.cfg, self.buffer.settings, self.buffer.folder
        if not cfg.syn_steps >= 1 or not cfg.expert_epochs >= 1 or not cfg.max_start_epoch >= 1:
            raise UserError(
                f"--syn-steps, --expert-epochs and --max-start-epoch must be >= 1 (got "
                f"{cfg.syn_steps}, {cfg.expert_epochs}, {cfg.max_start_epoch})"
            )
        if not cfg.lr_teacher > 0 or not cfg.lr_lr >= 0:
            raise UserError(f"--lr-teacher must be > 0 and --lr-lr >= 0 (got {cfg.lr_teacher}, {cfg.lr_lr})")
        shape = (self.ctx.channels, *self.ctx.image_size)
        if (s.channels, *s.image_size) != shape or s.num_classes != self.ctx.num_classes:
            raise UserError(
                f"the experts in {str(folder)!r} were trained on {s.num_classes} classes of "
                f"{s.channels}x{s.image_size[0]}x{s.image_size[1]} images ({s.dataset}), but this run has "
                f"{self.ctx.num_classes} classes of {'x'.join(map(str, shape))}; train experts for this data"
            )
        if s.model != cfg.model.lower() or dict(s.model_args) != dict(cfg.model_args):
            raise UserError(
                f"the experts in {str(folder)!r} are {s.model} {s.model_args or ''} networks but this run "
                f"distills with {cfg.model} {cfg.model_args or ''}; pass --model {s.model}"
                + (
                    f" --model-args {','.join(f'{k}={v}' for k, v in s.model_args.items())}"
                    if s.model_args
                    else ""
                )
                + " or train matching experts"
            )
        if cfg.zca is not None and bool(cfg.zca) != bool(s.zca):
            raise UserError(
                f"the experts in {str(folder)!r} were trained {'with' if s.zca else 'without'} ZCA whitening "
                f"but this run has --zca {str(bool(cfg.zca)).lower()}; pass --zca {str(bool(s.zca)).lower()} "
                f"or train experts {'without' if s.zca else 'with'} --zca"
            )
        last = cfg.max_start_epoch - 1 + cfg.expert_epochs
        if last > self.buffer.epochs:
            raise UserError(
                f"--max-start-epoch {cfg.max_start_epoch} with --expert-epochs {cfg.expert_epochs} needs experts "
                f"trained for at least {last} epochs, but {str(folder)!r} has {self.buffer.epochs}; lower "
                f"--max-start-epoch to {max(1, self.buffer.epochs - cfg.expert_epochs + 1)} or train longer experts"
            )

    def _check_layout(self) -> None:
        mine = [(n, list(s)) for n, s in zip(self.layout.names, self.layout.shapes, strict=True)]
        if mine != self.buffer.index:
            raise UserError(
                f"the experts in {str(self.buffer.folder)!r} have other parameters than this run's "
                f"{self.ctx.cfg.model} network; train experts with the same --model and --model-args"
            )

    # -- one iteration ---------------------------------------------------------------
    def loss(
        self, real: RealSampler, syn: torch.Tensor, syn_labels: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        cfg = self.ctx.cfg
        # under torchrun each rank follows its own (expert, start): world_size trajectories per iteration,
        # drawn in turn from the shared generator so every rank's stream stays the same
        draws = [
            (int(torch.randint(len(self.buffer), (1,), generator=generator)),
             int(torch.randint(cfg.max_start_epoch, (1,), generator=generator)))
            for _ in range(distributed.world_size())
        ]  # fmt: skip
        k, start = draws[distributed.rank()]
        theta0, target = self.buffer.rows(k, [start, start + cfg.expert_epochs], syn.device)
        images = syn.detach()
        if self.zca is not None:
            images = self.zca.apply(images)
        batch = cfg.batch_syn or images.shape[0]
        plan = UnrollPlan.draw(images.shape[0], cfg.syn_steps, batch, generator).to(syn.device)
        result = match_gradient(
            self.step_loss,
            theta0.to(syn.dtype),
            target.to(syn.dtype),
            images,
            syn_labels,
            plan,
            self.syn_lr.detach().item(),
        )
        if result.grad_images is None:  # the loss is not finite: the engine skips the update
            log.warning(
                "iteration %d: MTT loss is not finite (expert %d, start epoch %d)", self.iteration, k, start
            )
            return _Precomputed.apply(
                syn, self.syn_lr, result.loss, torch.zeros_like(syn), torch.zeros_like(self.syn_lr)
            )
        grad_images = result.grad_images
        if self.zca is not None:
            grad_images = self._unwhiten_gradient(grad_images)
        if distributed.world_size() > 1:  # the engine sums over ranks: each rank gives its share of the mean
            share = 1.0 / distributed.world_size()
            return _Precomputed.apply(
                syn, self.syn_lr, result.loss * share, grad_images * share, result.grad_lr * share
            )
        return _Precomputed.apply(syn, self.syn_lr, result.loss, grad_images, result.grad_lr)

    def _unwhiten_gradient(self, grad_whitened: torch.Tensor) -> torch.Tensor:
        """Pixel space: the direction that steps the *whitened* images as MTT's optimizer does
        (``pull_back``), so MTT's ZCA learning rates carry over.  Latent space: the true gradient through
        the whitening (``backward``); the pull-back there would send ``J^T (g W^-1)`` into the generator,
        which is not the gradient of any loss."""
        assert self.zca is not None
        if self.ctx.cfg.space == "pixel":
            return self.zca.pull_back(grad_whitened)
        return self.zca.backward(grad_whitened)

    def after_step(
        self, decode: Callable[[], torch.Tensor], syn_labels: torch.Tensor, generator: torch.Generator
    ) -> None:
        """Step the learned step size; roll it back if it left (0, inf)."""
        iteration = self.iteration
        self.iteration += 1
        if self.syn_lr.grad is not None:
            distributed.all_reduce_sum_(self.syn_lr.grad)  # the ranks' shares: the mean over trajectories
        self.lr_optimizer.step()
        self.lr_optimizer.zero_grad(set_to_none=True)
        value = self.syn_lr.detach().item()
        if math.isfinite(value) and value > 0:
            self.last_good_lr = value
            return
        with torch.no_grad():
            self.syn_lr.fill_(self.last_good_lr)
        buf = self.lr_optimizer.state.get(self.syn_lr, {}).get("momentum_buffer")
        if buf is not None:
            buf.zero_()
        log.warning(
            "iteration %d: the learned step size became %s after its update; rolled back to %.6g and "
            "reset its momentum (if this repeats, lower --lr-lr, now %g)",
            iteration,
            value,
            self.last_good_lr,
            self.ctx.cfg.lr_lr,
        )

    def discard_step(self) -> None:
        """The engine skipped this update: the learned step size keeps its value too."""
        self.syn_lr.grad = None
        self.iteration += 1

    # -- saving and resuming ---------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"learned_lr": self.syn_lr.detach().reshape(1).cpu()}
        if self.zca is not None:
            out.update(self.zca.to_tensors())
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "syn_lr": self.syn_lr.detach().item(),
            "last_good_lr": self.last_good_lr,
            "iteration": self.iteration,
            "lr_optimizer": self.lr_optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        with torch.no_grad():
            self.syn_lr.fill_(float(state["syn_lr"]))
        self.last_good_lr = float(state["last_good_lr"])
        self.iteration = int(state["iteration"])
        self.lr_optimizer.load_state_dict(state["lr_optimizer"])
