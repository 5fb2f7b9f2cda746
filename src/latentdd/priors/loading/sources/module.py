"""``--prior module:TARGET:FACTORY[?key=value&...]``: any ``nn.Module`` that implements the prior
interface, built by a factory the user names -- no change to latentdd needed.

``TARGET`` is an importable module (``mypkg.generators``) or a Python file (``path/to/gen.py``).
Arguments after ``?`` are parsed as JSON when they parse (``size=32``, ``scale=0.5``,
``names=["a","b"]``) and passed as strings otherwise.  The factory is also given the dataset's
``num_classes``, ``image_channels`` and ``image_size`` when its signature accepts them, so one
factory can serve several datasets.

A module that does not subclass :class:`~latentdd.priors.base.Prior` is wrapped by
:class:`~latentdd.priors.models.adapter.InterfacePrior`, which checks the interface up front and names
whatever is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from torch import nn

from ....errors import UserError
from ...base import Prior
from ...models.adapter import as_prior
from .base import PriorRequest, file_record, register_source

USAGE = "use --prior module:package.module:factory or module:path/to/file.py:factory"


def parse_module_spec(rest: str) -> tuple[str, str, dict[str, Any]]:
    """``"pkg.mod:make?size=32"`` -> ``("pkg.mod", "make", {"size": 32})``."""
    target_factory, _, query = rest.partition("?")
    target, sep, factory = target_factory.rpartition(":")
    if not sep or not target or not factory:
        raise UserError(f"prior spec 'module:{rest}' names no factory; {USAGE}")
    kwargs: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return target, factory, kwargs


def _import_target(target: str) -> Any:
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise UserError(f"prior module file {target} not found; {USAGE}")
        name = f"latentdd_user_prior_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UserError(f"cannot import {target} as Python; {USAGE}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise UserError(f"importing prior module file {target} failed: {type(e).__name__}: {e}") from e
        return module
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        raise UserError(
            f"cannot import prior module {target!r} ({e}); install it or add its folder to PYTHONPATH"
        ) from e


def _call_factory(factory: Any, kwargs: dict[str, Any], req: PriorRequest, where: str) -> Any:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for name, value in (
        ("num_classes", req.num_classes),
        ("image_channels", req.channels),
        ("image_size", req.image_size),
    ):
        if (name in params or accepts_any) and name not in kwargs:
            kwargs[name] = value
    try:
        return factory(**kwargs)
    except TypeError as e:
        raise UserError(
            f"calling {where} failed: {e}; check the ?key=value arguments of the prior spec"
        ) from e


@register_source("module")
def load_module_prior(rest: str, req: PriorRequest) -> tuple[Prior, dict[str, Any]]:
    target, factory_name, kwargs = parse_module_spec(rest)
    module = _import_target(target)
    factory = getattr(module, factory_name, None)
    if factory is None or not callable(factory):
        raise UserError(f"{target} has no callable {factory_name!r}; {USAGE}")
    where = f"{target}:{factory_name}"
    made = _call_factory(factory, dict(kwargs), req, where)
    if not isinstance(made, nn.Module):
        raise UserError(f"{where} returned {type(made).__name__}, not a torch.nn.Module")
    prior = as_prior(made, where).to(req.device).eval().requires_grad_(False)
    record: dict[str, Any] = {
        "source": f"module:{rest}",
        "arch": prior.arch,
        "factory": where,
        "kwargs": kwargs,
    }
    origin = target if target.endswith(".py") else getattr(module, "__file__", None)
    if origin and Path(origin).is_file():
        record["module_file"] = file_record(origin)
    return prior, record
