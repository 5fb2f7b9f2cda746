"""Which code made a file: ``latentdd.__version__`` plus the git commit when running from a checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .. import __version__


def git_commit(where: Path | None = None) -> str | None:
    """The commit of the checkout holding ``where`` (default: this package), ``+dirty`` when it has
    uncommitted changes to tracked files; ``None`` outside a git checkout or without git."""
    where = where or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def code_version() -> str:
    commit = git_commit()
    return f"latentdd {__version__}" + (f" (git {commit})" if commit else " (not a git checkout)")
