"""Two processes on one run folder or one prior file: the second refuses and names the first."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from latentdd import api
from latentdd.cli.main import main
from latentdd.config import build_config
from latentdd.runs import RunDir


def test_a_second_resume_on_a_folder_in_use_names_the_holder(tiny_settings, tmp_path):
    settings = {**tiny_settings, "iterations": 2, "compile": "off"}
    settings.pop("eval_models")
    run = api.distill(build_config(settings), progress=False)
    (run / RunDir.SYNSET).unlink()  # as if killed before the end: resumable
    held = RunDir(run).hold()  # this test process plays the running job
    try:
        done = subprocess.run(
            [sys.executable, "-m", "latentdd", "distill", "--resume", str(run), "--no-eval", "--quiet"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        held.release()
    assert done.returncode == 2, done.stderr
    assert f"is in use by process {os.getpid()}" in done.stderr and "Traceback" not in done.stderr
    assert not (run / RunDir.SYNSET).exists()  # the refused process wrote nothing
    api.resume(run, progress=False)  # released: the folder is usable again
    assert (run / RunDir.SYNSET).is_file()


def test_a_fresh_run_and_a_resume_hold_the_folder_while_they_work(tiny_settings, monkeypatch):
    """While a distillation runs, the folder's claim is held (checked from inside the loop)."""
    from latentdd.engine import loop

    seen = []
    original = loop.save_checkpoint

    def checking_save(path, *args, **kwargs):
        with pytest.raises(Exception, match="is in use by process"):
            RunDir(path.parent).hold()
        seen.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(loop, "save_checkpoint", checking_save)
    settings = {**tiny_settings, "iterations": 2, "checkpoint_every": 1, "compile": "off"}
    settings.pop("eval_models")
    run = api.distill(build_config(settings), progress=False)
    assert seen and not (run / ".lock.owner").read_text() == ""
    RunDir(run).hold().release()  # released at the end


def test_prior_training_into_a_file_in_use_refuses(tmp_path, capsys):
    out = tmp_path / "prior.safetensors"
    held = api.hold_exclusive(out.with_suffix(".lock"), "prior")
    try:
        with pytest.raises(SystemExit) as exc:
            main(["prior", "train", "--dataset", "embedded", "--out", str(out), "--steps", "1", "--no-score"])
    finally:
        held.finish()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"is in use by process {os.getpid()}" in err and not out.exists()
    assert not out.with_suffix(".lock").exists() and not out.with_name("prior.lock.owner").exists()
