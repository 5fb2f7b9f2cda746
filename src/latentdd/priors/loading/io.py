"""Prior files: one safetensors file holding the generator weights plus the metadata needed to
rebuild it (architecture name + constructor config) and its provenance record.

Loading rebuilds the module from :data:`~latentdd.priors.registry.PRIORS` and the stored config
only -- no training code runs, and safetensors never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ...errors import UserError
from ...fileio import atomic_write
from ...loadcheck import state_problem
from ..base import Prior
from ..models import PRIORS  # the package registers every built-in architecture

KIND = "prior"
FORMAT_VERSION = 1


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over (name, dtype, shape, bytes) of every tensor in sorted key order.

    Hashing the tensors rather than the file makes the id independent of metadata (a record
    can be edited without changing which weights it names) and lets loading detect bit rot.
    """
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().to("cpu").contiguous()
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_prior(prior: Prior, path: str | os.PathLike, record: dict[str, Any]) -> str:
    """Write ``prior`` (weights, arch, config, provenance ``record``) atomically; return the weights' sha256."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in prior.state_dict().items()}
    digest = weights_sha256(state)
    metadata = {
        "latentdd_kind": KIND,
        "format_version": str(FORMAT_VERSION),
        "arch": prior.arch,
        "config": json.dumps(prior.config(), sort_keys=True),
        "record": json.dumps(record, sort_keys=True),
        "sha256": digest,
    }
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))
    return digest


def _corrupt(path: Path) -> UserError:
    return UserError(
        f"{path} is not a latentdd prior file (corrupt or wrong format); "
        "re-create it with `latentdd prior train`"
    )


def load_prior(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Prior, dict[str, Any]]:
    """Rebuild a frozen prior (eval mode, no grad) and return it with its record.

    The record gains ``sha256`` (of the weights, verified against the file), ``file_sha256`` and
    ``path`` so a run can name exactly which prior it used.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise UserError(
            f"prior file {path} {what}; train one with `latentdd prior train --dataset NAME --out {path}` "
            "or use --prior random"
        )
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (safe_open has no __iter__)
    except Exception as e:  # safetensors raises its own error types and OSError on bad headers
        raise _corrupt(path) from e

    kind = meta.get("latentdd_kind")
    if kind is None:
        raise _corrupt(path)
    if kind != KIND:
        raise UserError(
            f"{path} is a latentdd {kind} file, not a prior; pass a prior file made by `latentdd prior train`"
        )
    try:
        version = int(meta.get("format_version", "0"))
    except ValueError:
        raise _corrupt(path) from None
    if version > FORMAT_VERSION:
        raise UserError(
            f"{path} uses prior file format {version}, newer than this latentdd understands "
            f"({FORMAT_VERSION}); upgrade latentdd"
        )
    arch = meta.get("arch", "")
    if arch not in PRIORS:
        raise UserError(
            f"{path} holds a prior of architecture {arch!r}, which this latentdd does not know "
            f"(known: {', '.join(PRIORS.names())}); upgrade latentdd or re-create the prior"
        )
    if weights_sha256(state) != meta.get("sha256"):
        raise _corrupt(path)
    try:
        config = json.loads(meta["config"])
        record = json.loads(meta.get("record", "{}"))
        prior = PRIORS.create(arch, **config)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise _corrupt(path) from e
    if not isinstance(record, dict):
        raise _corrupt(path)
    # A file whose hash matches can still hold weights that cannot be used: written after a training
    # blow-up (NaN), or by other code (dtype, shape).  Name the tensor instead of a torch traceback.
    problem = state_problem(state, prior.state_dict())
    if problem:
        raise UserError(
            f"{path} is not a usable {arch} prior: {problem}; re-create it with `latentdd prior train`"
        )
    try:
        prior.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise _corrupt(path) from e

    prior = prior.to(device).eval().requires_grad_(False)
    record = dict(record, sha256=meta["sha256"], file_sha256=file_sha256(path), path=str(path))
    return prior, record
