"""What a file read from disk must hold: tensors of the expected dtype and shape, with finite values.

The readers of synthetic sets, priors, checkpoints and expert trajectories call these once the file's
format itself has parsed, so a NaN-filled, retyped or reshaped file stops with one line naming the
file, the tensor and the problem -- never a traceback from deep inside torch, and never a silently
wrong result (a NaN synthetic set evaluated, a NaN prior distilled through).  Each function returns the
problem as a phrase (``"'images' holds NaN or Inf values"``) or ``None``; the reader adds the file and
the fix to it.
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .errors import UserError


def torch_load(path: str | os.PathLike, what: str, fix: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU.  A file that is empty, truncated, not a torch
    file, or that names code to run (which ``weights_only`` refuses to unpickle) is a one-line
    :class:`UserError` ``"{what} {path} is ...; {fix}"``."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "GLOBAL" in str(e):  # "Trying to load unsupported GLOBAL posix.system ...": code, refused unread
            problem = (
                "a pickle that names Python code no latentdd file holds (refused without running it: "
                "unpickling it could run anything)"
            )
        else:
            problem = "corrupt (not a torch file)"
    except Exception:  # noqa: BLE001  torch raises many types on damaged files (EOFError, RuntimeError, ...)
        problem = "empty" if path.is_file() and path.stat().st_size == 0 else "corrupt (truncated?)"
    raise UserError(f"{what} {path} is {problem}; {fix}")


def error_detail(e: BaseException) -> str:
    """The first line of an exception from ``load_state_dict`` and friends, short enough for a
    one-line error."""
    return str(e).splitlines()[0][:160] if str(e) else type(e).__name__


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def tensor_problem(
    name: str,
    t: Any,
    *,
    dtype: torch.dtype | None = None,
    shape: Sequence[int | None] | None = None,
    finite: bool = True,
) -> str | None:
    """Why the tensor ``name`` is not what a reader expects (``None`` where a ``shape`` entry may be
    anything), or ``None`` if it is."""
    if not isinstance(t, torch.Tensor):
        return f"{name!r} is a {type(t).__name__}, not a tensor"
    if dtype is not None and t.dtype != dtype:
        return f"{name!r} has dtype {dtype_name(t.dtype)}, not {dtype_name(dtype)}"
    if shape is not None:
        wanted = tuple(shape)
        if t.ndim != len(wanted) or any(
            w is not None and s != w for s, w in zip(t.shape, wanted, strict=True)
        ):
            shown = "x".join("N" if w is None else str(w) for w in wanted) or "a scalar"
            return f"{name!r} has shape {tuple(t.shape)}, not {shown}"
    if finite and (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
        return f"{name!r} holds NaN or Inf values"
    return None


def nonfinite_problem(obj: Any, name: str = "", floats: bool = False) -> str | None:
    """The first floating tensor anywhere in ``obj`` (tensors in nested dicts, lists and tuples) that
    holds NaN or Inf, as a problem phrase; ``None`` if there is none.  ``floats``: Python floats too."""
    pending: list[tuple[str, Any]] = [(name, obj)]
    while pending:
        key, value = pending.pop()
        if isinstance(value, torch.Tensor):
            if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
                return f"{(key or 'a tensor')!r} holds NaN or Inf values"
        elif floats and isinstance(value, float) and not math.isfinite(value):
            return f"{(key or 'a number')!r} is {value}"
        elif isinstance(value, Mapping):
            pending.extend((f"{key}.{k}" if key else str(k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list | tuple):
            pending.extend((f"{key}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    return None


def state_problem(state: Any, expected: Mapping[str, torch.Tensor]) -> str | None:
    """Why ``state`` cannot be loaded into a module whose own ``state_dict()`` is ``expected``: not a
    mapping, tensors missing or extra, another shape or dtype, NaN or Inf values."""
    if not isinstance(state, Mapping):
        return f"holds a {type(state).__name__} where the weights should be"
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = [f"lacks {', '.join(map(repr, missing[:3]))}" if missing else ""]
        parts.append(f"has unexpected {', '.join(map(repr, extra[:3]))}" if extra else "")
        more = " (and more)" if len(missing) > 3 or len(extra) > 3 else ""
        return "its tensors do not match the network: " + " and ".join(p for p in parts if p) + more
    for key, want in expected.items():
        problem = tensor_problem(key, state[key], dtype=want.dtype, shape=tuple(want.shape))
        if problem:
            return problem
    return None


def optimizer_problem(saved: Any, optimizer: torch.optim.Optimizer) -> str | None:
    """Per-parameter optimizer state (SGD's momentum) of another shape than its parameter: the
    optimizer would load it and fail only at the next step."""
    if not isinstance(saved, Mapping):
        return "its optimizer state is not a mapping"
    groups, states = saved.get("param_groups"), saved.get("state")
    if (
        not isinstance(groups, list)
        or not isinstance(states, dict)
        or len(groups) != len(optimizer.param_groups)
    ):
        return "its optimizer state does not match the parameters"
    for group, live in zip(groups, optimizer.param_groups, strict=True):
        indices = group.get("params") if isinstance(group, dict) else None
        if not isinstance(indices, list) or len(indices) != len(live["params"]):
            return "its optimizer state does not match the parameters"
        for index, p in zip(indices, live["params"], strict=True):
            entry = states.get(index, {})
            for key, value in entry.items() if isinstance(entry, dict) else ():
                if (
                    isinstance(value, torch.Tensor)
                    and value.ndim > 0
                    and tuple(value.shape) != tuple(p.shape)
                ):
                    return f"optimizer {key!r} has shape {tuple(value.shape)}, not {tuple(p.shape)}"
    return None
