"""Published default settings per method, dataset and IPC, as named presets.

Each method's file registers one function per preset name (``paper`` = the original
paper's hyperparameter table, ``cpu-small`` = the budgets of PROTOCOL.md) with
:func:`register_preset`; the function maps (dataset, ipc) to config overrides.  Every
module in this package is imported automatically, so adding a method's presets is one
new file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from ..errors import UserError

PresetFn = Callable[[str, int], dict[str, Any]]
_PRESETS: dict[tuple[str, str], PresetFn] = {}


def register_preset(method: str, preset: str) -> Callable[[PresetFn], PresetFn]:
    def decorator(fn: PresetFn) -> PresetFn:
        key = (method.lower(), preset.lower())
        if key in _PRESETS:
            raise ValueError(f"preset {key} registered twice")
        _PRESETS[key] = fn
        return fn

    return decorator


def resolve_preset(method: str, preset: str, dataset: str, ipc: int) -> dict[str, Any]:
    fn = _PRESETS.get((method.lower(), preset.lower()))
    if fn is None:
        methods = sorted({m for m, _ in _PRESETS})
        presets = sorted({p for _, p in _PRESETS})
        raise UserError(
            f"no preset for method {method!r} with preset {preset!r}; "
            f"methods: {', '.join(methods)}; presets: {', '.join(presets)}"
        )
    return fn(dataset.lower(), int(ipc))


def preset_names() -> list[tuple[str, str]]:
    return sorted(_PRESETS)


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
