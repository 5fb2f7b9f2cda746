"""``--walk-to``: H-PD's walk through the prior's layers (engine/walk.py, LatentSet.advance_layer)."""

import json

import pytest
import torch

from latentdd import api
from latentdd.config import build_config
from latentdd.engine.walk import layer_at
from latentdd.errors import UserError
from latentdd.priors import make_random_prior, save_prior
from latentdd.priors.models.kl_autoencoder import KLAutoencoderPrior
from latentdd.seeding import make_generator, seeded_global_rng
from latentdd.synth.io import load_synset
from latentdd.synth.latent import LatentSet


def tiny_autoencoder() -> KLAutoencoderPrior:
    with seeded_global_rng(0):
        return KLAutoencoderPrior(
            3, 1, 8, block_out_channels=(8, 16), norm_num_groups=4, latent_channels=2
        ).eval()


@pytest.mark.parametrize("make", [lambda: make_random_prior(3, 1, 16, seed=0), tiny_autoencoder])
def test_advancing_a_feature_map_leaves_the_image_unchanged(make):
    prior = make()
    labels = torch.arange(6) % 3
    w = prior.map_latent(prior.sample_latents(labels, make_generator(1)), labels)
    assert prior.can_advance
    for k in range(prior.num_layers - 1):
        f = prior.head(w, k) + 0.1 * torch.randn(prior.head(w, k).shape, generator=make_generator(k))
        ahead = prior.advance(f, w, k)
        assert tuple(ahead.shape[1:]) == prior.layer_shape(k + 1)
        assert torch.allclose(prior.tail(ahead, w, k + 1), prior.tail(f, w, k), atol=1e-5)


def test_a_set_walks_one_layer_deeper_with_the_same_images_and_start():
    prior = tiny_autoencoder()
    labels = torch.arange(6) % 3
    synset = LatentSet(prior, 0, labels, 3, (0.5,), (0.5,), make_generator(0), chunk=4, feat_radius=0.5)
    with torch.no_grad():
        synset.f.add_(0.3)  # as if optimized: the start and the iterate differ
    before, start = synset.decode(), synset.f_start.clone()
    synset.advance_layer()
    assert synset.layer == 1 and tuple(synset.f.shape[1:]) == prior.layer_shape(1)
    assert synset.f.requires_grad and isinstance(synset.f, torch.nn.Parameter)
    assert torch.allclose(synset.decode(), before, atol=1e-5)
    assert torch.allclose(synset.f_start, prior.advance(start, synset.w, 0), atol=1e-6)
    while synset.layer < prior.num_layers - 1:
        synset.advance_layer()
    assert torch.allclose(synset.decode(), before, atol=1e-5)
    with pytest.raises(UserError, match="last layer"):
        synset.advance_layer()


def test_schedule_splits_the_iterations_evenly_between_the_layers():
    cfg = build_config({"space": "latent", "prior": "random", "layer": 0, "walk_to": 2, "iterations": 9})
    assert [layer_at(cfg, i) for i in range(9)] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert layer_at(build_config({"space": "latent", "prior": "random", "layer": 1, "iterations": 9}), 8) == 1


def _walking(tiny_settings, tmp_path, **extra):
    prior = make_random_prior(10, 1, 16, seed=0)  # two layers at 16 px
    save_prior(prior, tmp_path / "p.safetensors", {"source": "test"})
    return {**tiny_settings, "space": "latent", "prior": str(tmp_path / "p.safetensors"), "layer": 0,
            "walk_to": 1, "iterations": 6, **extra}  # fmt: skip


def test_a_walking_run_ends_at_the_last_layer_and_resumes_mid_walk(
    tiny_settings, tmp_path, interrupted_distill
):
    settings = _walking(tiny_settings, tmp_path)
    full = api.distill(build_config(settings), progress=False)
    saved = load_synset(full / "synset.safetensors")
    layer_1 = make_random_prior(10, 1, 16, seed=0).layer_shape(1)
    assert saved.meta["layer"] == 1 and tuple(saved.tensors["latent_f"].shape[1:]) == layer_1
    assert json.loads((full / "distill.json").read_text())["iterations"] == 6

    from latentdd.objectives.dm import DistributionMatching

    # killed at the 5th iteration: the checkpoint at 4 is past the hand-over at 3
    interrupted_distill(
        build_config({**settings, "out": str(tmp_path / "cut")}), DistributionMatching, at_call=5
    )
    resumed = api.resume(tmp_path / "cut", progress=False)
    assert torch.allclose(load_synset(resumed / "synset.safetensors").images, saved.images, atol=1e-6)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"space": "pixel"}, "needs --space latent"),
        ({"layer": "auto"}, "fixed --layer"),
        ({"layer": 1}, "must be deeper than the starting --layer 1"),
        ({"walk_to": 5}, "--walk-to 5 does not exist in this prior; choose a layer up to 1"),
    ],
)
def test_walk_settings_that_cannot_work_are_refused_in_one_line(tiny_settings, tmp_path, change, message):
    settings = {**_walking(tiny_settings, tmp_path), **change}
    with pytest.raises(UserError, match=message):
        api.distill(build_config(settings), progress=False)
    assert not (tmp_path / "run").exists()  # nothing written for bad input


@pytest.mark.parametrize("method", ["dm", "dc"])
def test_a_pixel_run_distills_whatever_layer_the_settings_carry(tiny_settings, method):
    """A sweep passes one --layer (``auto`` by default) to every run; pixels have no layer, so no walk
    may read it (this crashed every pixel run of bench/cpu_small.py after --walk-to landed)."""
    settings = {**tiny_settings, "method": method, "space": "pixel", "layer": "auto", "iterations": 2}
    run = api.distill(build_config(settings), progress=False)
    assert json.loads((run / "distill.json").read_text())["iterations"] == 2
