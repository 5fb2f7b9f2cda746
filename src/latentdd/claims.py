"""Cross-process claims: "I am training this expert / this network; others, take another one".

One mechanism for every claim latentdd makes (experts of a buffer, networks of an evaluation):
``filelock``'s lock files.  The claim is an exclusive ``flock`` on the file, so it is exclusive
between processes (and between two claims in one process), and the kernel drops it when its
holder dies -- a killed job never blocks a piece of work.  The file itself stays behind; only
the lock on it means "held".
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import UserError
from .fileio import atomic_write_text, sweep_temp_files


class Claim:
    """A held claim; :meth:`release` (or the holder's death) ends it."""

    def __init__(self, lock: FileLock) -> None:
        self._lock = lock

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()

    def finish(self) -> None:
        """Release and delete the lock file, once the work it guarded is done *and recorded where a
        later claimant checks first* (a finished expert file): a peer that still locks the unlinked
        file, or one that makes a new file meanwhile, then finds the work done and skips it."""
        path = Path(self._lock.lock_file)
        self.release()
        path.unlink(missing_ok=True)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_claim(path: str | os.PathLike) -> Claim | None:
    """Claim ``path`` at once, or ``None`` when a live process (this one included) holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return None
    # the claimed work's files are ours now: a killed holder's half-written temporaries go
    sweep_temp_files(path.parent, path.stem if not path.name.startswith(".") else None)
    return Claim(lock)


def is_held(path: str | os.PathLike) -> bool:
    """Whether some process holds the claim on ``path`` right now (for progress displays)."""
    claim = try_claim(path)
    if claim is None:
        return True
    claim.release()
    return False


class ExclusiveClaim(Claim):
    """A claim with an owner record beside its lock file; :meth:`finish` removes both."""

    def __init__(self, lock: FileLock, owner: Path) -> None:
        super().__init__(lock)
        self.owner = owner

    def finish(self) -> None:
        self.owner.unlink(missing_ok=True)
        super().finish()


def hold_exclusive(path: str | os.PathLike, what: str) -> ExclusiveClaim:
    """Claim ``path`` for one job that must not share ``what`` (a run folder, a prior being trained)
    with a second process; the holder's pid, host and start time go beside the lock, so the refusal
    names the other process instead of letting both interleave their writes."""
    path = Path(path)
    owner = path.with_name(path.name + ".owner")
    claim = try_claim(path)
    if claim is None:
        try:
            who = json.loads(owner.read_text(encoding="utf-8"))
            named = f"process {who['pid']} on {who['host']} (since {who['started']})"
        except (OSError, ValueError, KeyError):
            named = "another process"
        raise UserError(f"{what} is in use by {named}; wait for it to finish or stop it, then run this again")
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    atomic_write_text(owner, json.dumps(record) + "\n")
    return ExclusiveClaim(claim._lock, owner)
