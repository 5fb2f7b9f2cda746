"""The in-project autoencoder prior and the prior scores (``latentdd prior score``)."""

import json

import pytest
import torch

from latentdd.cli.main import main
from latentdd.data.dataset import DatasetSplits, ImageDataset
from latentdd.errors import UserError
from latentdd.evaluate.prior_score import (
    ScoreSettings,
    class_diversity,
    format_scores,
    frechet_distance,
    saturated_fraction,
    score_prior,
)
from latentdd.priors import load_prior
from latentdd.priors.models.kl_autoencoder import KLAutoencoderPrior, default_channels
from latentdd.priors.training.autoencoder import train_autoencoder
from latentdd.priors.training.progress import checkpoint_path, grid_path, scores_path
from latentdd.priors.training.trainers import TRAINERS
from latentdd.seeding import make_generator
from latentdd.synth.latent import LatentSet

TINY_AE = dict(block_out_channels=(8, 16), norm_num_groups=4, latent_channels=2)
TRAIN = dict(batch_size=8, checkpoint_every=2, progress=False, seed=1, **TINY_AE)


def toy(classes=3, n=12, size=8, channels=3, seed=0, noise=0.1):
    """Classes that differ in how bright their left half is."""
    g = make_generator(seed)
    labels = torch.arange(classes).repeat_interleave(n)
    x01 = 0.2 + noise * torch.rand(labels.numel(), channels, size, size, generator=g)
    for c in range(classes):
        x01[labels == c, :, :, : size // 2] += 0.2 * c
    return ImageDataset(
        (x01 - 0.4) / 0.2,
        labels,
        [f"c{i}" for i in range(classes)],
        (0.4,) * channels,
        (0.2,) * channels,
        "toy",
    )


def toy_splits():
    return DatasetSplits(toy(), toy(seed=1, n=6), "toy", "test")


# -- the scores themselves --------------------------------------------------------------------------


def test_frechet_distance_is_zero_for_the_same_set_and_the_squared_shift_for_a_moved_one():
    a = torch.randn(400, 5, generator=make_generator(0), dtype=torch.float64)
    assert abs(frechet_distance(a, a)) < 1e-6
    shift = torch.tensor([3.0, 0, 0, 4.0, 0], dtype=torch.float64)
    assert frechet_distance(a, a + shift) == pytest.approx(25.0, abs=1e-6)  # same covariance: |shift|^2
    assert frechet_distance(a, 2 * a) > 1.0  # a wider spread is farther away


def test_diversity_and_saturation_measure_what_they_say():
    labels = torch.tensor([0, 0, 1, 1])
    features = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [1.0, 1.0]])
    assert class_diversity(features, labels) == pytest.approx(2.5)  # class 0: 5, class 1 (collapsed): 0
    images = torch.tensor([0.0, 0.01, 0.5, 0.99, 1.0, 0.3, 0.021, 0.97])
    assert saturated_fraction(images) == pytest.approx(4 / 8)


# -- the autoencoder prior ------------------------------------------------------------------------


def test_default_autoencoder_latent_is_a_quarter_of_the_image_side_at_every_resolution():
    assert default_channels(32) == (32, 64, 128)
    assert default_channels(28) == (32, 64, 128)
    assert default_channels(64) == (16, 32, 64)  # each stage costs what it costs at 32 px
    assert default_channels(128) == (16, 16, 32)
    prior = KLAutoencoderPrior(10, 3, 64, norm_num_groups=16)
    assert prior.layer_shape(0) == (4, 16, 16)


def test_tiny_autoencoder_trains_resumes_saves_and_reloads(tmp_path):
    data = toy()
    straight, rec = train_autoencoder(data, steps=4, out=str(tmp_path / "a" / "ae.safetensors"), **TRAIN)
    assert rec["arch"] == "ae" and rec["steps"] == 4
    assert rec["latent"]["scaling_factor"] == pytest.approx(1 / rec["latent"]["latent_std"])
    out = tmp_path / "b" / "ae.safetensors"
    train_autoencoder(data, steps=2, out=str(out), **TRAIN)
    assert torch.load(checkpoint_path(out), weights_only=True)["step"] == 2
    resumed, _ = train_autoencoder(data, steps=4, out=str(out), **TRAIN)  # continues from step 2
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    loaded, saved = load_prior(out)
    z = torch.randn(6, loaded.latent_dim, generator=make_generator(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    assert torch.equal(loaded(z, y), resumed(z, y)) and saved["steps"] == 4
    assert grid_path(out).is_file() and grid_path(out).with_suffix(".recon.png").is_file()
    with pytest.raises(UserError, match="different settings"):
        train_autoencoder(data, steps=4, out=str(out), **{**TRAIN, "kl_weight": 1.0})


def test_autoencoder_learns_to_reconstruct_and_class_samples_follow_the_class():
    data = toy(n=24, noise=0.02)
    prior, rec = train_autoencoder(data, steps=150, **{**TRAIN, "lr": 3e-3, "ema_decay": 0.9})
    x = data.denormalize(data.images) * 2 - 1
    z = prior.encode(x)
    recon = prior.tail(z, z.reshape(z.shape[0], 1, -1), 0)
    assert (recon - x).abs().mean() < 0.5 * (x - x.mean()).abs().mean()  # far better than the mean image
    # class means decode to images whose brightness orders like the classes'
    y = torch.arange(3)
    means = prior(torch.zeros(3, prior.latent_dim), y).mean(dim=(1, 2, 3))
    assert means[0] < means[1] < means[2]


def test_latent_set_starts_from_encoded_real_images_at_every_layer():
    data = toy()
    prior, _ = train_autoencoder(data, steps=2, **TRAIN)
    images = data.images[:3]
    labels = data.labels[:3]
    x = data.denormalize(images) * 2 - 1
    z = prior.encode(x)
    want = data.normalize((prior.tail(z, z.reshape(3, 1, -1), 0) + 1) / 2)
    for k in range(prior.num_layers):
        synset = LatentSet(prior, k, labels, 3, data.mean, data.std, make_generator(0), init_images=images)
        assert torch.allclose(synset.decode(), want, atol=1e-4), k


def test_trainer_registry_maps_architectures_to_their_trainers():
    assert TRAINERS.get("ae") is train_autoencoder
    with pytest.raises(UserError, match="choose one of"):
        TRAINERS.get("vqgan")


# -- scoring a prior --------------------------------------------------------------------------------

FAST = ScoreSettings(
    cas_per_class=2,
    cas_runs=1,
    cas_epochs=2,
    feature_per_class=5,
    embedder_per_class=6,
    embedder_epochs=2,
    embedder_width=8,
)


def test_score_prior_reports_every_figure_and_sees_a_collapsed_prior():
    splits = toy_splits()
    prior, _ = train_autoencoder(splits.train, steps=3, **TRAIN)
    scores = score_prior(prior, splits, FAST)
    assert set(scores) >= {"cas", "frechet_distance", "diversity", "saturation", "embedder_test_accuracy"}
    assert scores["cas"]["per_class"] == 2 and scores["diversity"]["ratio"] > 0
    assert json.loads(json.dumps(scores)) == scores
    assert "CAS (2/class)" in format_scores(scores)

    prior.class_std.zero_()  # every sample of a class is the same image: mode collapse
    collapsed = score_prior(prior, splits, FAST, cas=False)
    assert collapsed["diversity"]["generated"] == pytest.approx(0.0, abs=1e-6) and "cas" not in collapsed


def test_monitor_logs_scores_beside_the_prior_while_training(tmp_path):
    data = toy()
    seen = []
    out = tmp_path / "ae.safetensors"
    train_autoencoder(
        data,
        steps=4,
        out=str(out),
        grid_every=2,
        monitor=lambda step, p: seen.append(step) or {"frechet_distance": float(step)},
        **TRAIN,
    )
    assert seen == [2]  # every grid_every steps before the last
    lines = [json.loads(s) for s in scores_path(out).read_text().splitlines()]
    assert lines == [{"step": 2, "frechet_distance": 2.0}]


def test_cli_prior_score_rejects_bad_counts_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["prior", "score", "random", "--dataset", "embedded", "--cas-runs", "0"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--cas-runs must be at least 1" in err
    assert len(err.strip().splitlines()) == 1


# -- the GAN recipe: DiffAugment ----------------------------------------------------------------------


def test_diffaugment_applies_every_family_and_is_seeded():
    from latentdd.augment.diffaugment import DiffAugment

    x = torch.rand(4, 3, 8, 8)
    aug = DiffAugment("color_crop_cutout")
    assert [s.families for s in aug.stages] == [["color"], ["crop"], ["cutout"]]
    a, b = aug(x, make_generator(0)), aug(x, make_generator(0))
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert not DiffAugment("none").enabled and torch.equal(DiffAugment("none")(x, make_generator(0)), x)
    with pytest.raises(UserError, match="unknown DSA augmentation"):
        DiffAugment("color_blur")


def test_gan_with_diffaugment_changes_training_and_resumes_exactly(tmp_path):
    from latentdd.priors.training.gan import train_prior

    gan = dict(
        batch_size=8,
        checkpoint_every=2,
        progress=False,
        disc_channels=4,
        seed=1,
        latent_dim=8,
        w_dim=16,
        base_channels=16,
        min_channels=8,
    )
    data = toy(size=16)
    plain, _ = train_prior(data, steps=4, **gan)
    straight, rec = train_prior(data, steps=4, diffaug="color_crop_cutout", **gan)
    assert rec["settings"]["diffaug"] == "color_crop_cutout"
    assert not torch.equal(plain.to_image.weight, straight.to_image.weight)
    out = tmp_path / "g.safetensors"
    train_prior(data, steps=2, out=str(out), diffaug="color_crop_cutout", **gan)
    resumed, _ = train_prior(data, steps=4, out=str(out), diffaug="color_crop_cutout", **gan)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # the augmentation stream is checkpointed too


# -- real-image starts for GANs, and the feature-map bound ----------------------------------------


def tiny_gan(classes=3, channels=3, size=16):
    from latentdd.priors import ConditionalGenerator
    from latentdd.seeding import seeded_global_rng

    with seeded_global_rng(0):
        prior = ConditionalGenerator(
            classes, channels, image_size=size, latent_dim=8, w_dim=16, base_channels=16, min_channels=8
        )
    prior.calibrate(make_generator(1), batches=2, batch_size=16)
    return prior.requires_grad_(False)


@pytest.mark.parametrize("layer", [0, 1])
def test_inversion_reconstructs_images_the_generator_can_draw(layer):
    from latentdd.priors.inversion import class_mean_codes, invert

    prior = tiny_gan()
    labels = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        target = prior(prior.sample_latents(labels, make_generator(5)), labels)
        start_w = class_mean_codes(prior, labels, make_generator(0))
        start = prior.tail(prior.head(start_w, layer), start_w, layer)
    w, f = invert(prior, target, labels, layer, steps=100, lr=0.05, chunk=3)
    assert w.shape == start_w.shape and f.shape == (4, *prior.layer_shape(layer))
    with torch.no_grad():
        err = (prior.tail(f, w, layer) - target).pow(2).mean()
    assert err < 0.2 * (start - target).pow(2).mean()
    assert not any(p.requires_grad for p in prior.parameters())  # the prior is left frozen


def test_latent_set_with_real_start_inverts_a_gan_and_the_radius_bounds_the_features():
    data = toy(size=16)
    prior = tiny_gan()
    images, labels = data.images[:4], data.labels[:4]
    sampled = LatentSet(prior, 1, labels, 3, data.mean, data.std, make_generator(0))
    real = LatentSet(
        prior,
        1,
        labels,
        3,
        data.mean,
        data.std,
        make_generator(0),
        init_images=images,
        invert_steps=60,
        feat_radius=0.1,
    )
    err = lambda s: (s.decode() - images).pow(2).mean()  # noqa: E731
    assert err(real) < err(sampled)
    with torch.no_grad():
        real.f.add_(10 * torch.randn_like(real.f))  # a huge step
    real.after_step()
    moved = (real.f - real.f_start).flatten(1).norm(dim=1)
    assert torch.all(moved <= 0.1 * real.f_start.flatten(1).norm(dim=1) * (1 + 1e-5))
    free = LatentSet(prior, 1, labels, 3, data.mean, data.std, make_generator(0))
    with torch.no_grad():
        free.f.add_(10.0)
    free.after_step()  # radius 0: no bound
    assert torch.allclose(free.f, free.f_start + 10.0)


def test_init_values_are_checked_per_space():
    from latentdd.config import build_config

    with pytest.raises(UserError, match="--init sample"):
        build_config({"space": "pixel", "init": "sample"})
    with pytest.raises(UserError, match="--feat-radius"):
        build_config({"space": "latent", "prior": "random", "feat_radius": -1})
    assert build_config({"space": "latent", "prior": "random", "init": "sample"}).init == "sample"


def test_report_provenance_shows_the_prior_scores():
    from latentdd.report.provenance import _prior_lines

    scores = {
        "cas": {"per_class": 10, "generated": {"mean": 40.0}, "real": {"mean": 50.0}},
        "frechet_distance": 3.25,
        "diversity": {"ratio": 0.5},
        "saturation": {"generated": 0.1, "real": 0.05},
    }
    lines = dict(_prior_lines({"arch": "ae", "path": "p.safetensors", "scores": scores}))
    assert lines["prior quality"] == (
        "CAS 40.0 % vs 50.0 % on real images (10/class); Fréchet distance 3.25; "
        "diversity 0.50 of real's; saturated pixels 10.0 % (real 5.0 %)"
    )
    assert "prior quality" not in dict(_prior_lines({"arch": "ae", "path": "p.safetensors"}))


def test_cli_refuses_gan_recipe_options_for_the_autoencoder(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "prior",
                "train",
                "--arch",
                "ae",
                "--dataset",
                "embedded",
                "--diffaug",
                "color",
                "--out",
                str(tmp_path / "p.safetensors"),
                "--steps",
                "1",
                "--quiet",
            ]
        )
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--diffaug is for GAN priors" in err
    assert not (tmp_path / "p.safetensors").exists()


def test_reconstruction_grid_and_training_work_for_tiny_datasets(tmp_path):
    data = toy(n=4)  # 12 images: fewer than the 32 shown while training, not a multiple of 8
    _, rec = train_autoencoder(data, steps=2, out=str(tmp_path / "ae.safetensors"), grid_every=1, **TRAIN)
    assert rec["steps"] == 2 and grid_path(tmp_path / "ae.safetensors").with_suffix(".recon.png").is_file()
    assert rec["settings"]["ema_warmup"] == "(1+t)/(10+t)"


def test_batch_norm_networks_embed_real_images_in_one_pass():
    from torch import nn

    from latentdd.objectives.dm import real_chunk

    x = torch.zeros(700, 3, 64, 64)
    assert real_chunk(x, nn.Conv2d(3, 3, 1)) == 256
    assert real_chunk(x, nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3))) == 700


def test_cache_keys_name_the_resolved_convnet_depth_only_where_it_changed():
    from latentdd.nets.convnet import key_kwargs

    assert key_kwargs("convnet", (32, 32), None) == {}  # unchanged at 32 px: old results stay valid
    assert key_kwargs("convnet", (64, 64), {"width": 64}) == {"width": 64, "depth": 4}
    assert key_kwargs("convnetd3", (64, 64), None) == {} and key_kwargs("alexnet", (64, 64), None) == {}


def test_auto_init_encodes_with_an_autoencoder_and_samples_a_gan():
    from latentdd.engine.build import start_from_real_images

    ae = KLAutoencoderPrior(3, 3, 8, **TINY_AE)
    gan = tiny_gan()
    assert start_from_real_images("auto", ae) and not start_from_real_images("auto", gan)
    assert start_from_real_images("real", gan) and not start_from_real_images("sample", ae)
    assert not start_from_real_images("noise", ae)
