"""Many processes, one job: PyTorch's own distributed engine (``torch.distributed``), started by
``torchrun``.

A command started under ``torchrun --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT] -m
latentdd ...`` finds ``RANK``/``WORLD_SIZE`` in its environment and joins the process group on first
use; a single process needs no torchrun and every helper here degrades to the obvious one-process
answer.  The backend follows the device -- gloo on CPUs, NCCL on CUDA -- unless
``LATENTDD_DIST_BACKEND`` names another.

What is shared out, and how:

* distillation (DM, DC, DSA): classes are shared out; every rank holds the whole synthetic set and
  draws the same network, real indices and augmentation from the shared seed, but embeds (or takes
  gradients of) only its own classes' real and synthetic images; the pixel gradient of the synthetic
  set is summed over the ranks, so every rank takes the same step and the sets stay identical.
  Rank 0 writes the run folder; a checkpoint is one rank's state, so a run resumes on any number of
  ranks;
* MTT: each rank follows its own expert trajectory per iteration (drawn in turn from the shared
  generator) and the gradients are averaged: N ranks match N trajectories per iteration;
* evaluation: the architecture x seed grid (and the random-real baseline's, and the report's
  full-data networks) is split among ranks with :func:`shard`; each rank trains its part through the
  per-network cache and claims, results are gathered with :func:`all_gather_object`, rank 0 writes
  ``metrics.json``.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from .errors import UserError

T = TypeVar("T")

#: how long a rank waits for the others at a collective before the job fails with a message
TIMEOUT = datetime.timedelta(minutes=int(os.environ.get("LATENTDD_DIST_TIMEOUT_MINUTES", "60")))


def launched() -> bool:
    """Whether this process was started as one of several ranks (``torchrun``)."""
    return _env_world() > 1


def backend_for(device: torch.device | str | None = None) -> str:
    """gloo for CPUs, NCCL for CUDA devices, or ``LATENTDD_DIST_BACKEND``."""
    chosen = os.environ.get("LATENTDD_DIST_BACKEND")
    if chosen:
        return chosen
    kind = (
        torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    return "nccl" if kind == "cuda" and dist.is_nccl_available() else "gloo"


def ensure_initialized(device: torch.device | str | None = None) -> None:
    """Join the process group when launched by torchrun and not joined yet (idempotent)."""
    if not launched() or dist.is_initialized():
        return
    if not dist.is_available():
        raise UserError("this PyTorch build has no torch.distributed; run a single process (no torchrun)")
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(
        backend=backend, store=_store(), rank=_env_rank(), world_size=_env_world(), timeout=TIMEOUT
    )


def _env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _store() -> dist.Store:
    """torchrun's key-value store, under a prefix per restart: after ``--max-restarts`` the new
    attempt must not read the addresses the failed one published there (gloo would connect to a
    dead rank)."""
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        _env_world(),
        is_master=not agent_store and _env_rank() == 0,
        timeout=TIMEOUT,
    )
    return dist.PrefixStore(f"latentdd/attempt{restart_count()}", store)


def restart_count() -> int:
    """How often torchrun restarted this job after a failure (``--max-restarts``); 0 otherwise."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))


def world_size() -> int:
    ensure_initialized()
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    ensure_initialized()
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes shared files and prints."""
    return rank() == 0


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items``: every ``world_size``-th item from position ``rank``, so the
    shares are disjoint, cover everything, and differ in size by at most one."""
    return list(items[rank() :: world_size()])


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` for one process)."""
    if world_size() == 1:
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over the ranks, in place (unchanged for one process)."""
    if world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def average_gradients_(parameters: Any) -> None:
    """Average the gradients of ``parameters`` over the ranks, in place: the all-reduce that
    ``DistributedDataParallel`` performs, done explicitly because the prior trainers call their
    networks through methods (``encode``/``decode``) that DDP's forward hook does not see.  One
    flat all-reduce per call, not one per parameter (as DDP buckets them)."""
    if world_size() == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(world_size())
    for g, part in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(part.view_as(g))


def owned_classes(num_classes: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean mask of the classes this rank owns (every ``world_size``-th; all of them alone)."""
    mask = torch.zeros(num_classes, dtype=torch.bool, device=device)
    mask[shard(range(num_classes))] = True
    return mask


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group: wait for every rank, then destroy it.  A rank that exits with the group
    still alive lets the interpreter tear down gloo's worker threads while they are joinable, and the
    C++ runtime aborts the process ("terminate called without an active exception", SIGABRT: one
    torchrun run in six on this machine before this was called at exit)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def describe() -> dict[str, Any]:
    """What a result records about how it was run."""
    if world_size() == 1:
        return {"world_size": 1}
    return {"world_size": world_size(), "backend": dist.get_backend()}
