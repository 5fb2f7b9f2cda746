import json

import pytest
import torch

from latentdd import api
from latentdd.config import build_config
from latentdd.engine import RunDir
from latentdd.errors import UserError
from latentdd.priors import make_random_prior, save_prior
from latentdd.synth.io import load_synset


def test_pixel_run_writes_every_file_and_is_reproducible(tiny_settings, tmp_path):
    run = api.distill(build_config(tiny_settings), progress=False)
    for name in ("config.yaml", "synset.safetensors", "grid.png", "distill.json", "log.txt", "checkpoint.pt"):
        assert (run / name).is_file(), name
    first = load_synset(run / "synset.safetensors")
    assert first.images.shape == (20, 1, 16, 16) and first.labels.tolist() == sorted(first.labels.tolist())
    stats = json.loads((run / "distill.json").read_text())
    assert len(stats["loss"]) == 4 and stats["peak_rss_mb"] > 0
    again = api.distill(build_config({**tiny_settings, "out": str(tmp_path / "again")}), progress=False)
    assert torch.equal(load_synset(again / "synset.safetensors").images, first.images)
    other = api.distill(
        build_config({**tiny_settings, "seed": 4, "out": str(tmp_path / "o")}), progress=False
    )
    assert not torch.equal(load_synset(other / "synset.safetensors").images, first.images)


def test_resume_after_interruption_matches_uninterrupted(tiny_settings, tmp_path, interrupted_distill):
    full = api.distill(build_config({**tiny_settings, "iterations": 6}), progress=False)
    expected = load_synset(full / "synset.safetensors").images

    # Interrupt a second run after its first checkpoint (iteration 2) by failing in the objective.
    from latentdd.objectives.dm import DistributionMatching

    cut = {**tiny_settings, "iterations": 6, "out": str(tmp_path / "cut")}
    interrupted_distill(build_config(cut), DistributionMatching, at_call=4)
    assert not (tmp_path / "cut" / "synset.safetensors").exists()
    resumed = api.resume(tmp_path / "cut", progress=False)
    assert torch.allclose(load_synset(resumed / "synset.safetensors").images, expected, atol=1e-6)


def test_latent_run_with_prior_file(tiny_settings, tmp_path):
    prior = make_random_prior(10, 1, 16, seed=0)
    save_prior(prior, tmp_path / "p.safetensors", {"source": "test"})
    cfg = build_config(
        {**tiny_settings, "space": "latent", "prior": str(tmp_path / "p.safetensors"), "layer": 1}
    )
    run = api.distill(cfg, progress=False)
    saved = load_synset(run / "synset.safetensors")
    assert {"latent_f", "latent_w"} <= set(saved.tensors)
    assert saved.meta["space"] == "latent" and saved.meta["prior"]["source"] == "test"
    stats = json.loads((run / "distill.json").read_text())
    assert stats["prior"]["source"] == "test"


def test_evaluate_writes_design_shaped_metrics(tiny_settings):
    run = api.distill(build_config(tiny_settings), progress=False)
    metrics = api.evaluate(run, progress=False)
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    assert set(on_disk["accuracy"]) == {"convnetd1", "mlp"}
    for block in (on_disk["accuracy"], on_disk["baseline_random_real"]):
        for m in block.values():
            assert 0 <= m["mean"] <= 100 and len(m["runs"]) == 1
    # the distillation model is convnet, so both architectures count as cross-architecture
    assert on_disk["cross_arch_mean"] == pytest.approx(
        sum(m["mean"] for m in on_disk["accuracy"].values()) / 2
    )


def test_run_folder_errors(tiny_settings, tmp_path):
    with pytest.raises(UserError, match="not a latentdd run"):
        api.resume(tmp_path)
    api.distill(build_config(tiny_settings), progress=False)
    with pytest.raises(UserError, match="already holds a run"):
        api.distill(build_config(tiny_settings), progress=False)
    with pytest.raises(UserError, match="--ipc 9999 is larger than class"):
        api.distill(build_config({**tiny_settings, "ipc": 9999, "out": str(tmp_path / "x")}), progress=False)
    assert RunDir.existing(tiny_settings["out"]).config().ipc == 2
