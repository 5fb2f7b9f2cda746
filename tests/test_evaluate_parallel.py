"""``latentdd evaluate --jobs N``: a local torchrun job whose ranks share one evaluation's networks."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from latentdd import api
from latentdd.cli.main import cli
from latentdd.config import build_config
from latentdd.errors import UserError


@pytest.fixture
def two_runs(tiny_settings, tmp_path):
    run = api.distill(build_config({**tiny_settings, "eval_runs": 2}), progress=False)
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    return run, copy


def test_jobs_give_the_metrics_of_one_process_and_train_each_network_once(two_runs):
    run, copy = two_runs
    alone = api.evaluate(run, progress=False, baseline=False)
    shared = api.evaluate(copy, progress=False, baseline=False, jobs=2)
    assert shared["accuracy"] == alone["accuracy"] and shared["per_class"] == alone["per_class"]
    assert shared["distributed"] == {"world_size": 2, "backend": "gloo"} and "distributed" not in alone
    kept = sorted(
        f.name.split("-")[0] + "-" + f.name.split("-")[1] for f in (copy / "eval_runs").glob("*.json")
    )
    assert kept == ["convnetd1-seed3", "convnetd1-seed4", "mlp-seed3", "mlp-seed4"]
    assert not list((copy / "eval_runs").glob("*.tmp*"))  # no half-written result left behind


def test_jobs_refuse_fresh_and_nonpositive_counts(two_runs):
    run, _ = two_runs
    with pytest.raises(UserError, match="--fresh cannot be combined with --jobs"):
        api.evaluate(run, progress=False, fresh=True, jobs=2)
    with pytest.raises(UserError, match="--jobs must be at least 1"):
        api.evaluate(run, progress=False, jobs=0)
    result = CliRunner().invoke(cli, ["evaluate", str(run), "--jobs", "0"])
    assert result.exit_code != 0 and "--jobs" in result.output


KILLED_RANK = """
import os, signal, sys
from latentdd.evaluate import metrics
from latentdd.evaluate.target import evaluate_target

if os.environ["RANK"] == "1":  # this rank dies mid-evaluation, as an OOM kill would end it
    metrics.train_and_test = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
evaluate_target(sys.argv[1], progress=False, baseline=False)
"""


def test_a_killed_rank_ends_the_job_with_a_message_not_a_hang(two_runs, tmp_path):
    import subprocess
    import sys
    import time

    run, _ = two_runs
    script = tmp_path / "killed_rank.py"
    script.write_text(KILLED_RANK)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    started = time.perf_counter()
    done = subprocess.run(
        [*launch, str(script), str(run)],
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and time.perf_counter() - started < 240
    assert "rank" in done.stderr.lower() and "SIGKILL" in done.stderr, done.stderr[-1500:]
    assert not (run / "metrics.json").exists() or "distributed" not in (run / "metrics.json").read_text()
