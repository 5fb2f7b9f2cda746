"""Atomic file writes: a crash or kill never leaves a half-written file behind.

Every file latentdd writes goes through :func:`atomic_write` (temporary file in the same folder,
fsync, rename, fsync of the folder); ``tests/test_atomic_writes.py`` greps the package for writes that
bypass it."""

from __future__ import annotations

import errno
import json
import os
import signal
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
        _fsync(tmp)  # the bytes reach the disk before the name does: a power cut leaves old or new
        _fault_point(path)
        publish(tmp, path)
        _fsync(path.parent)  # and the rename itself is durable
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UserError(
                f"no space left on the device while writing {path}; the previous version of the file is "
                "intact: free some space and run the command again (runs resume)"
            ) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: Fault injection for the kill tests (tests/test_kills.py, bench/kill_soak.py): with
#: ``LATENTDD_KILL_AT_WRITE=N`` the process SIGKILLs itself during its N-th atomic write, after the
#: temporary file is complete and before it is published -- the worst moment for a half-written file.
_KILL_AT_WRITE = int(os.environ.get("LATENTDD_KILL_AT_WRITE", "0") or 0)
_writes = 0


def _fault_point(path: Path) -> None:
    global _writes
    if not _KILL_AT_WRITE:
        return
    _writes += 1
    if _writes == _KILL_AT_WRITE:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync(path: str | os.PathLike) -> None:
    """Flush a file's (or a folder's entries') data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems cannot fsync a folder; the data itself is what matters
        if e.errno not in (errno.EINVAL, errno.EBADF, errno.EACCES):
            raise
    finally:
        os.close(fd)


def sweep_temp_files(folder: str | os.PathLike, target_stem: str | None = None) -> list[Path]:
    """Delete the temporary files that killed writes left in ``folder`` (only those of files named
    ``target_stem.*`` if given).  Call it only while holding the claim on what is written there, so no
    live write's temporary file is taken."""
    pattern = f".{target_stem}.*.tmp" if target_stem else ".*.tmp"
    swept = [p for p in Path(folder).glob(pattern) if p.is_file()]
    for p in swept:
        p.unlink(missing_ok=True)
    return swept


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


def save_resume_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """A training's resume state (``torch.save``), written atomically: a kill mid-write leaves the
    previous state."""
    import torch

    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_resume_state(path: str | os.PathLike) -> dict[str, Any] | None:
    """The saved resume state, or ``None`` when there is none or it cannot be read (then the training
    starts over: a damaged or foreign file only costs the time it would have saved)."""
    import torch

    if not Path(path).is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 -- torch raises many types on damaged files
        return None
