"""Published default settings per method, dataset and IPC, as named presets.

Each method's file registers one function per preset name (``paper`` = the original
paper's hyperparameter table, ``cpu-small`` = the budgets of PROTOCOL.md, ``glad`` = GLaD's
own loop where it differs) with :func:`register_preset`; the function maps (dataset, ipc)
to config overrides.  A new method's presets are one new file, imported here.
"""

from . import dc, dm, mtt
from .registry import (
    METHOD_SETTINGS,
    PRESETS,
    preset_names,
    register_preset,
    register_settings,
    resolve_preset,
)

__all__ = [
    "METHOD_SETTINGS",
    "PRESETS",
    "dc",
    "dm",
    "mtt",
    "preset_names",
    "register_preset",
    "register_settings",
    "resolve_preset",
]
