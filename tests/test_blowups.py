"""Numeric blow-ups in every objective: rolled back, the learning rate lowered, counted, and a run that
keeps blowing up stops with one line instead of writing a NaN set (engine/blowups.py)."""

from __future__ import annotations

import json

import pytest
import torch

from latentdd import api
from latentdd.cli.main import main
from latentdd.config import build_config
from latentdd.engine.blowups import MAX_STREAK
from latentdd.objectives import OBJECTIVES
from latentdd.synth.io import load_synset
from latentdd.synth.pixel import PixelSet


def poison_loss(monkeypatch, method: str, from_call: int, until_call: int) -> None:
    """The objective's loss turns NaN for calls ``from_call`` .. ``until_call`` (0-based), as a
    diverging network or an overflow would make it; its gradient is then NaN too."""
    cls = OBJECTIVES.get(method)
    original, calls = cls.loss, {"n": 0}

    def loss(self, *args, **kwargs):
        value = original(self, *args, **kwargs)
        n, calls["n"] = calls["n"], calls["n"] + 1
        return value * float("nan") if from_call <= n <= until_call else value

    monkeypatch.setattr(cls, "loss", loss)


def settings_for(tiny_settings, method: str) -> dict:
    settings = {**tiny_settings, "method": method, "compile": "off", "checkpoint_every": 1}
    settings.pop("eval_models")
    return settings


@pytest.mark.parametrize("method", ["dm", "dc", "dsa"])
def test_a_nan_loss_is_skipped_counted_and_halves_the_learning_rate(tiny_settings, monkeypatch, method):
    poison_loss(monkeypatch, method, 1, 1)
    settings = settings_for(tiny_settings, method)
    run = api.distill(build_config(settings), progress=False)
    stats = json.loads((run / "distill.json").read_text())
    assert stats["blowups"] == 1 and stats["blowup_events"] == [{"iteration": 1, "what": "loss"}]
    assert torch.isfinite(load_synset(run / "synset.safetensors").images).all()
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    lr_img = build_config(settings).lr_img
    assert [g["lr"] for g in checkpoint["optimizer"]["param_groups"]] == [pytest.approx(lr_img / 2)]


def test_an_update_that_makes_the_set_non_finite_is_undone(tiny_settings, monkeypatch):
    """An update can overflow with a finite gradient (a huge step): the next iteration finds the set
    non-finite and puts it back as it was before that update."""
    original, calls = PixelSet.after_step, {"n": 0}

    def overflowing_step(self):
        original(self)
        calls["n"] += 1
        if calls["n"] == 2:  # the update of iteration 1
            with torch.no_grad():
                next(self.parameters()).view(-1)[0] = float("inf")

    monkeypatch.setattr(PixelSet, "after_step", overflowing_step)
    run = api.distill(build_config(settings_for(tiny_settings, "dm")), progress=False)
    stats = json.loads((run / "distill.json").read_text())
    assert stats["blowup_events"] == [{"iteration": 1, "what": "update"}]
    assert torch.isfinite(load_synset(run / "synset.safetensors").images).all()


def test_an_overflow_in_the_last_update_is_undone_before_the_set_is_written(tiny_settings, monkeypatch):
    original, calls = PixelSet.after_step, {"n": 0}

    def overflowing_step(self):
        original(self)
        calls["n"] += 1
        if calls["n"] == tiny_settings["iterations"]:
            with torch.no_grad():
                next(self.parameters()).view(-1)[0] = float("nan")

    monkeypatch.setattr(PixelSet, "after_step", overflowing_step)
    run = api.distill(build_config(settings_for(tiny_settings, "dm")), progress=False)
    assert json.loads((run / "distill.json").read_text())["blowups"] == 1
    assert torch.isfinite(load_synset(run / "synset.safetensors").images).all()


def test_a_run_that_keeps_blowing_up_stops_with_one_line_and_writes_no_set(
    tiny_settings, monkeypatch, capsys, tmp_path
):
    poison_loss(monkeypatch, "dm", 2, 10**9)  # iterations 0 and 1 are fine, then every loss is NaN
    settings = {**settings_for(tiny_settings, "dm"), "iterations": 20}
    args = ["distill", "--out", str(tmp_path / "run"), "--no-eval", "--quiet"]
    for key in (
        "dataset",
        "ipc",
        "iterations",
        "seed",
        "device",
        "image_size",
        "batch_real",
        "checkpoint_every",
    ):
        args += [f"--{key.replace('_', '-')}", str(settings[key])]
    args += ["--model-args", "width=16,depth=2", "--compile", "off"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "Traceback" not in err
    assert "diverged" in err and f"{MAX_STREAK} iterations in a row" in err and "--lr-img" in err
    assert len(err.splitlines()) == 1, err
    run = tmp_path / "run"
    assert not (run / "synset.safetensors").exists()
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)  # the last finite set, resumable
    assert all(torch.isfinite(t).all() for t in checkpoint["tensors"].values())
    assert checkpoint["state"]["blowup_streak"] == MAX_STREAK - 1  # saved before the fifth
