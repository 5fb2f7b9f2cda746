"""``latentdd evaluate --jobs N``: a thin launcher of the distributed engine on this machine.

It starts ``torchrun --standalone --nproc-per-node N`` on this module; every rank evaluates the same
target with its share of the networks (:mod:`latentdd.distributed`: each rank one thread-share,
networks split among ranks, results gathered, rank 0 writes ``metrics.json``), and the calling
process reads the metrics back.  On a 2-core CPU two one-thread processes train 1.0-1.2x as many
networks per hour as one two-thread process (BENCHMARKS.md).  The same evaluation runs across
machines by starting ``torchrun ... -m latentdd evaluate RUN`` on each of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from .target import evaluate_target, metrics_file


def threads_per_job(jobs: int) -> int:
    """This process's intra-op threads shared out among ``jobs`` processes (at least one each)."""
    return max(1, torch.get_num_threads() // jobs)


def evaluate_in_processes(target: str | Path, jobs: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``evaluate_target(target, **kwargs)`` on ``jobs`` ranks of a local ``torchrun`` job; returns
    the metrics rank 0 wrote.  A rank that fails ends the job; the error is raised here."""
    if kwargs.get("fresh"):
        raise UserError(
            "--fresh cannot be combined with --jobs above 1 (ranks would each discard the others' work); "
            "run with --fresh --jobs 1, or delete the run's eval_runs folder first"
        )
    threads = threads_per_job(jobs)
    request = json.dumps({"target": str(target), "kwargs": kwargs, "threads": threads})
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={jobs}"]
    command += ["-m", __name__, request]
    done = subprocess.run(command, env=env, check=False)
    if done.returncode != 0:
        raise UserError(
            f"the evaluation's {jobs} processes failed (exit code {done.returncode}; see the messages "
            "above); run the same command again to resume from the networks that finished"
        )
    return json.loads(metrics_file(target).read_text(encoding="utf-8"))


def _rank_main(request: dict[str, Any]) -> None:
    torch.set_num_threads(int(request["threads"]))
    evaluate_target(request["target"], **request["kwargs"])


if __name__ == "__main__":
    _rank_main(json.loads(sys.argv[1]))
