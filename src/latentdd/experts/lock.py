"""Per-index claims so several processes can fill one expert buffer without clobbering.

A process that wants to train expert ``k`` claims ``expert_<k>.lock``.  The claim must be
exclusive (never two writers on one expert) and must not outlive a crashed holder
(a killed job would otherwise block index ``k`` forever).  How:

1. the claimant creates a private file with ``os.open(..., O_CREAT | O_EXCL)`` (its
   name is unique to the process), writes its pid and host into it and takes an
   exclusive ``fcntl.flock`` on it;
2. it publishes that file as the lock with ``os.link(private, lock)``, which is atomic
   and fails if the lock exists -- so the lock is born already locked.  (Creating the
   lock itself with ``O_EXCL`` and flock-ing it afterwards would leave a moment in which
   a peer sees an unlocked lock file and breaks it.)

Stale locks: the kernel drops a flock when its holder dies (``kill -9``, crash, power
loss of the process), so a peer that finds ``expert_<k>.lock`` tries a non-blocking
flock on it.  If that succeeds the holder is gone: the peer removes the lock -- after
checking, under the flock, that the path still names the inode it locked -- and claims
again.  Nobody ever removes a lock without holding its flock, which makes breaking
race-free.  On NFS, Linux emulates flock with POSIX byte-range locks (works on NFSv4).
Where ``fcntl`` does not exist (Windows) a lock is never considered stale: delete a
crashed job's ``*.lock`` file by hand (its content names the pid and host that made it).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("latentdd.experts")


class Claim:
    """An exclusive claim on one lock path; :meth:`release` (or process death) ends it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # still under our flock: nobody else unlinks it meanwhile
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _flock(fd: int) -> bool:
    """Non-blocking exclusive flock; ``False`` when someone else holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"


def try_claim(path: str | os.PathLike, attempts: int = 5) -> Claim | None:
    """Claim ``path`` exclusively, breaking it if its holder died; ``None`` if a live
    process holds it."""
    path = Path(path)
    for _ in range(attempts):
        private = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.{threading.get_ident()}")
        try:  # left behind by an earlier process with our pid, which is therefore dead
            os.unlink(private)
        except FileNotFoundError:
            pass
        fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        try:
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
            _flock(fd)  # a fresh file: always succeeds
            try:
                os.link(private, path)
                return Claim(path, fd)
            except FileExistsError:
                pass
        except BaseException:
            os.close(fd)
            raise
        finally:
            os.unlink(private)
        os.close(fd)
        if fcntl is None or not _break_if_stale(path):
            return None
    return None


def _break_if_stale(path: Path) -> bool:
    """Remove ``path`` if its holder is dead; ``True`` when the caller should claim again."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True  # released meanwhile
    try:
        if not _flock(fd):
            return False  # a live holder
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            return True
        if same:
            log.warning("removing stale lock %s left by a process that died (%s)", path, _holder(path))
            os.unlink(path)
        return True
    finally:
        os.close(fd)
