"""Free-form ``--setting value`` flags: every config field is a flag without listing it twice.

click handles the documented options; whatever it does not know is collected here as
``--name value`` pairs (or ``--name`` alone for a true boolean, ``--no-name`` for false)
and validated against the config's fields, so a typo gets a one-line error naming the
known settings.
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError


def parse_extra_flags(args: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or len(token) <= 2:
            raise UserError(f"unexpected argument {token!r}; settings are given as --name value")
        key = token[2:]
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            value = args[i + 1]
            i += 2
        elif key.startswith("no-"):
            key, value = key[3:], "false"
            i += 1
        else:
            value = "true"
            i += 1
        out[key.replace("-", "_")] = value
    return out
