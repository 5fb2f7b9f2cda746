"""Distillation on torch.distributed: ranks own classes, the synthetic set is the one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from latentdd import api
from latentdd.config import build_config
from latentdd.synth.io import load_synset

LAUNCH = [sys.executable, "-m", "torch.distributed.run", "--standalone"]


def torchrun(ranks: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*LAUNCH, f"--nproc-per-node={ranks}", "-m", "latentdd", *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def flags(settings: dict) -> list[str]:
    out = []
    for key, value in settings.items():
        value = ",".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
        value = ",".join(value) if isinstance(value, list) else value
        out += [f"--{key.replace('_', '-')}", str(value)]
    return out


@pytest.mark.parametrize(("method", "space"), [("dm", "pixel"), ("dm", "latent"), ("dsa", "pixel")])
def test_two_ranks_distill_the_set_of_one_process(tiny_settings, tmp_path, method, space):
    """Each rank matches its own classes and the pixel gradient is summed: the same steps as one
    process.  Bitwise equality is not promised (a subset of images may take other kernels), so the
    sets must agree to 1e-5; the run records world_size and backend, and resumes on one process."""
    settings = {**tiny_settings, "method": method, "space": space, "iterations": 3, "compile": "off"}
    if space == "latent":
        settings.update(prior="random", layer=0)
    settings.pop("eval_models")
    one = api.distill(build_config({**settings, "out": str(tmp_path / "one")}), progress=False)
    done = torchrun(2, "distill", *flags({**settings, "out": str(tmp_path / "two")}), "--no-eval", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("synthetic set:") == 1  # one rank reports
    a, b = load_synset(one / "synset.safetensors"), load_synset(tmp_path / "two" / "synset.safetensors")
    assert torch.allclose(a.images, b.images, atol=1e-5), (a.images - b.images).abs().max()
    stats = json.loads((tmp_path / "two" / "distill.json").read_text())
    assert stats["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert json.loads((one / "distill.json").read_text())["distributed"] == {"world_size": 1}


def test_a_run_checkpointed_on_two_ranks_resumes_on_one(tiny_settings, tmp_path):
    """A checkpoint is one rank's state (all ranks hold the same): a run begun on 2 ranks continues on 1
    and ends where a one-process run ends.  (The 2-rank run stops after 2 of 4 iterations: its
    config is edited to 4 and its result removed, as a kill after the checkpoint would leave it.)"""
    import yaml

    settings = {**tiny_settings, "iterations": 4, "checkpoint_every": 2, "compile": "off"}
    settings.pop("eval_models")
    whole = api.distill(build_config({**settings, "out": str(tmp_path / "whole")}), progress=False)
    cut = tmp_path / "cut"
    done = torchrun(
        2, "distill", *flags({**settings, "iterations": 2, "out": str(cut)}), "--no-eval", "--quiet"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    config = yaml.safe_load((cut / "config.yaml").read_text())
    (cut / "config.yaml").write_text(yaml.safe_dump({**config, "iterations": 4}, sort_keys=False))
    (cut / "synset.safetensors").unlink()
    resumed = api.resume(cut, progress=False)
    a, b = load_synset(whole / "synset.safetensors"), load_synset(resumed / "synset.safetensors")
    assert torch.allclose(a.images, b.images, atol=1e-5), (a.images - b.images).abs().max()


def test_mtt_on_two_ranks_follows_two_trajectories_per_iteration(tiny_settings, tmp_path):
    """MTT is not a sum over classes: each rank follows its own (expert, start) and the gradients of the
    set and of the learned step size are averaged, so 2 ranks = 2 trajectories per iteration (not the
    one-process set).  It runs, rank 0 writes the run, and the learned step size moved."""
    from latentdd.experts import train_experts

    width = {"width": 8, "depth": 1}
    splits = api.load_dataset("embedded", image_size=16)
    experts = tmp_path / "experts"
    train_experts(splits, experts, num=2, epochs=3, model_args=width, zca=False, device="cpu", progress=False)
    settings = {**tiny_settings, "method": "mtt", "experts": str(experts), "model_args": width,
                "iterations": 2, "syn_steps": 2, "expert_epochs": 1, "max_start_epoch": 2, "compile": "off"}  # fmt: skip
    settings.pop("eval_models")
    done = torchrun(2, "distill", *flags({**settings, "out": str(tmp_path / "two")}), "--no-eval", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    saved = load_synset(tmp_path / "two" / "synset.safetensors")
    assert torch.isfinite(saved.images).all() and float(saved.tensors["learned_lr"]) != 0.01
    stats = json.loads((tmp_path / "two" / "distill.json").read_text())
    assert stats["distributed"]["world_size"] == 2 and len(stats["loss"]) == 2


CRASH_ONCE = """
import os, sys
from latentdd.cli.main import main
from latentdd.objectives.dm import DistributionMatching

if os.environ["RANK"] == "1" and os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0":
    original, calls = DistributionMatching.loss, {"n": 0}

    def dies(self, *a, **k):  # rank 1 dies after the checkpoint at iteration 2, on the first attempt only
        calls["n"] += 1
        if calls["n"] == 3:
            os._exit(1)
        return original(self, *a, **k)

    DistributionMatching.loss = dies
sys.argv[0] = "latentdd"
main(sys.argv[1:])
"""


def test_torchrun_restart_resumes_from_the_last_checkpoint(tiny_settings, tmp_path):
    """With --max-restarts, a job whose rank died starts again and continues the run from its last
    checkpoint (the same command, no --resume): the set of an uninterrupted run."""
    settings = {**tiny_settings, "iterations": 4, "checkpoint_every": 2, "compile": "off"}
    settings.pop("eval_models")
    whole = api.distill(build_config({**settings, "out": str(tmp_path / "whole")}), progress=False)
    script = tmp_path / "crash_once.py"
    script.write_text(CRASH_ONCE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [*LAUNCH, "--nproc-per-node=2", "--max-restarts=1", str(script), "distill"]
    command += [*flags({**settings, "out": str(tmp_path / "cut")}), "--no-eval", "--quiet"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = load_synset(whole / "synset.safetensors"), load_synset(tmp_path / "cut" / "synset.safetensors")
    assert torch.allclose(a.images, b.images, atol=1e-5), (a.images - b.images).abs().max()


@pytest.mark.parametrize("arch", ["ae", "cgen"])
def test_prior_trains_on_two_ranks(tmp_path, arch):
    """Each rank takes its slice of the shared batch and the gradients are averaged (what DDP does):
    rank 0 writes one prior file, which records world_size; it loads and decodes."""
    out = tmp_path / f"{arch}.safetensors"
    done = torchrun(
        2, "prior", "train", "--arch", arch, "--dataset", "embedded", "--image-size", "16", "--steps", "3",
        "--out", str(out), "--device", "cpu", "--no-score", "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("prior:") == 1
    from latentdd.priors import resolve_prior

    prior, record = resolve_prior(str(out), num_classes=10, channels=1, image_size=16, seed=0)
    assert record["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert torch.isfinite(prior(torch.randn(2, prior.latent_dim), torch.tensor([0, 1]))).all()


def test_report_full_data_reference_shared_among_ranks(tiny_settings, tmp_path, monkeypatch):
    """The report's full-data networks are shared out like an evaluation's; rank 0 writes the report."""
    run = api.distill(build_config({**tiny_settings, "compile": "off"}), progress=False)
    api.evaluate(run, progress=False, baseline=False)
    out = tmp_path / "report.html"
    monkeypatch.setenv("LATENTDD_CACHE", str(tmp_path / "cache"))  # the ranks inherit it
    done = torchrun(
        2, "report", str(run), "--out", str(out), "--full-data", "--full-data-epochs", "1", "--quiet"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("report:") == 1 and out.is_file()
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "2 network(s) trained now" in md  # convnetd1 and mlp, seed 3: one on each rank
    assert len(list((tmp_path / "cache" / "fulldata").glob("*-seed3-*.json"))) == 2


def test_a_successful_command_leaves_the_process_group_before_exit(tmp_path, monkeypatch):
    """The CLI destroys the process group on success: a rank exiting with gloo's threads alive aborted
    (SIGABRT, "terminate called without an active exception") in 2 of 12 torchrun runs of `experts`."""
    import torch.distributed as dist

    from latentdd.cli.main import main

    monkeypatch.setenv("LATENTDD_DIST_BACKEND", "gloo")
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    with pytest.raises(SystemExit) as exit_:
        main(["prior", "list"])
    assert exit_.value.code == 0
    assert not dist.is_initialized()
