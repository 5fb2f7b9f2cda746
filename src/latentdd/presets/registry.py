"""Where presets register: one entry per (method, preset name), made by a function of (dataset, IPC)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UserError
from ..registry import Registry

PresetFn = Callable[[str, int], dict[str, Any]]
#: ``method -> dataclass`` of the settings only that method reads; :class:`~latentdd.config.DistillConfig`
#: is composed of the common settings and every class registered here, so a new method declares its
#: settings beside its presets and flags and config files know them at once
METHOD_SETTINGS: dict[str, type] = {}


def register_settings(*methods: str) -> Callable[[type], type]:
    """Class decorator: ``methods`` read the settings of this dataclass (every field needs a default)."""

    def decorator(cls: type) -> type:
        for method in methods:
            if method in METHOD_SETTINGS:
                raise ValueError(f"settings of method {method!r} registered twice")
            METHOD_SETTINGS[method] = cls
        return cls

    return decorator


#: ``"method:preset" -> fn(dataset, ipc) -> config overrides``
PRESETS: Registry[dict[str, Any]] = Registry("preset")


def register_preset(method: str, preset: str) -> Callable[[PresetFn], PresetFn]:
    return PRESETS.register(f"{method}:{preset}")


def preset_names() -> list[tuple[str, str]]:
    """``(method, preset)`` pairs, sorted."""
    return [tuple(name.split(":", 1)) for name in PRESETS.names()]  # type: ignore[misc]


def resolve_preset(method: str, preset: str, dataset: str, ipc: int) -> dict[str, Any]:
    key = f"{method}:{preset}"
    if key not in PRESETS:
        names = preset_names()
        raise UserError(
            f"no preset for method {method!r} with preset {preset!r}; "
            f"methods: {', '.join(sorted({m for m, _ in names}))}; presets: {', '.join(sorted({p for _, p in names}))}"
        )
    return PRESETS.create(key, dataset.lower(), int(ipc))
