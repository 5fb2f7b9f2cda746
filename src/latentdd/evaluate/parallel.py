"""``latentdd evaluate --jobs N``: N processes train the networks of one evaluation together.

An evaluation is many small, independent trainings (15 under ``cpu-small``), each too small to
keep several cores busy on its own: on a 2-core CPU two one-thread processes train 1.0-1.2x as
many networks per hour as one two-thread process (BENCHMARKS.md); whether more cores widen the
gap is not measured here.  The helpers are ordinary evaluations of the same target that do not wait: they
claim networks (``RunCache.claim``) until none is left to claim, then exit; the calling
process waits for every network and writes ``metrics.json``.  A helper that dies releases its
claim, so its network is trained again by whoever reaches it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from .run_cache import NetworksInProgress
from .target import evaluate_target

log = logging.getLogger("latentdd.evaluate")


def threads_per_job(jobs: int) -> int:
    """This process's intra-op threads shared out among ``jobs`` processes (at least one each)."""
    return max(1, torch.get_num_threads() // jobs)


def _helper(target: str, kwargs: dict[str, Any], threads: int) -> None:
    torch.set_num_threads(threads)
    try:
        evaluate_target(target, **{**kwargs, "progress": False, "wait_for_others": False})
    except NetworksInProgress:
        pass  # nothing left that it could claim; the calling process collects the rest


def evaluate_in_processes(target: str | Path, jobs: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``evaluate_target(target, **kwargs)`` with ``jobs - 1`` helper processes training beside it.

    Helpers are fresh interpreters running this module (``python -m``), not ``multiprocessing``
    children: those re-import the caller's main script, which breaks scripts without a
    ``__main__`` guard.  The arguments are plain values, passed as JSON.
    """
    if kwargs.get("fresh"):
        raise UserError(
            "--fresh cannot be combined with --jobs above 1 (helpers would reuse what it discards); "
            "run with --fresh --jobs 1, or delete the run's eval_runs folder first"
        )
    threads = threads_per_job(jobs)
    request = json.dumps({"target": str(target), "kwargs": kwargs, "threads": threads})
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    helpers = [subprocess.Popen([sys.executable, "-m", __name__, request], env=env) for _ in range(jobs - 1)]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    finished = False
    try:
        metrics = evaluate_target(target, **kwargs)
        finished = True
        return metrics
    finally:
        torch.set_num_threads(before)
        for helper in helpers:
            if not finished:
                helper.terminate()
            if helper.wait() != 0 and finished:
                log.warning(
                    "an evaluation helper process exited with code %s; its networks were trained here",
                    helper.returncode,
                )


if __name__ == "__main__":
    _request = json.loads(sys.argv[1])
    _helper(_request["target"], _request["kwargs"], _request["threads"])
