"""Where latentdd keeps what outlives one run: cached priors, full-data and random-real results."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """``$LATENTDD_CACHE``, else ``~/.cache/latentdd``."""
    return Path(os.environ.get("LATENTDD_CACHE") or Path.home() / ".cache" / "latentdd")
