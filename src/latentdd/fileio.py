"""Atomic file writes: a crash or kill never leaves a half-written file behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import UserError


def _publish(
    path: str | os.PathLike, write: Callable[[str], None], publish: Callable[[str, Path], None]
) -> None:
    """``write(tmp)`` into a temp file beside ``path``, then ``publish(tmp, path)``; the temp file never
    outlives the call."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600; give the file the permissions a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temp file over ``path`` (same folder, same fs)."""
    _publish(path, write, os.replace)


def atomic_create(path: str | os.PathLike, write: Callable[[str], None]) -> bool:
    """Like :func:`atomic_write`, but only if ``path`` does not exist yet (``os.link`` fails if it
    does): exactly one of several processes publishes; ``False`` for the others, which then read
    what the winner wrote."""
    try:
        _publish(path, write, os.link)
    except FileExistsError:
        return False
    return True


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_safetensors(path: str | os.PathLike, unreadable: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Tensors and metadata of a safetensors file; a corrupt or foreign file raises
    ``UserError(unreadable)`` instead of the library's own exception types."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError, RuntimeError):
        raise UserError(unreadable) from None
