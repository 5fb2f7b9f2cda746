"""Where presets register: one entry per (method, preset name), made by a function of (dataset, IPC)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UserError
from ..registry import Registry

PresetFn = Callable[[str, int], dict[str, Any]]
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
