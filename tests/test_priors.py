import json

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from latentdd.data.dataset import ImageDataset
from latentdd.errors import UserError
from latentdd.priors import (
    PRIORS,
    ConditionalGenerator,
    builtin_priors,
    describe_builtin_priors,
    load_prior,
    make_random_prior,
    resolve_prior,
    save_prior,
)
from latentdd.priors.loading.resolve import BUILTIN_DIR
from latentdd.priors.training import gan as train_module
from latentdd.priors.training.gan import train_prior
from latentdd.priors.training.progress import checkpoint_path, grid_path
from latentdd.seeding import make_generator, seeded_global_rng

TINY = dict(latent_dim=8, w_dim=16, base_channels=16, min_channels=8)


def tiny_prior(classes=3, channels=1, size=16, seed=0):
    with seeded_global_rng(seed):
        prior = ConditionalGenerator(classes, channels, image_size=size, **TINY)
    prior.calibrate(make_generator(seed), batches=1, batch_size=16)
    return prior


def latents(prior, n=6, seed=1):
    labels = torch.arange(n) % prior.num_classes
    return prior.sample_latents(labels, make_generator(seed)), labels


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (16, 1)])
def test_head_tail_split_reproduces_forward_at_every_layer(size, channels):
    prior = tiny_prior(channels=channels, size=size)
    z, y = latents(prior)
    full = prior(z, y)
    assert full.shape == (6, channels, size, size)
    assert full.min() >= -1 and full.max() <= 1 and full.std() > 0
    w = prior.map_latent(z, y)
    assert w.shape == (6, prior.num_ws, prior.w_dim)
    assert prior.num_layers == {28: 3, 32: 3, 16: 2}[size]
    for k in range(prior.num_layers):
        f = prior.head(w, k)
        assert tuple(f.shape[1:]) == prior.layer_shape(k)
        assert torch.allclose(prior.tail(f, w, k), full, atol=1e-6)
    with pytest.raises(UserError, match=f"layer {prior.num_layers} does not exist"):
        prior.head(w, prior.num_layers)


def test_eval_mode_images_do_not_depend_on_the_rest_of_the_batch():
    prior = tiny_prior()
    assert not prior.training
    z, y = latents(prior)
    whole = prior(z, y)
    assert torch.allclose(torch.cat([prior(z[i : i + 1], y[i : i + 1]) for i in range(6)]), whole, atol=1e-6)


def test_class_label_changes_the_image():
    prior = tiny_prior()
    z = torch.randn(1, prior.latent_dim, generator=make_generator(0)).repeat(3, 1)
    x = prior(z, torch.arange(3))
    assert (x[0] - x[1]).abs().max() > 1e-3 and (x[1] - x[2]).abs().max() > 1e-3


@pytest.mark.parametrize("k", [0, 1])
def test_tail_is_differentiable_in_features_and_every_w_entry(k):
    prior = tiny_prior().requires_grad_(False)
    z, y = latents(prior)
    w = prior.map_latent(z, y).detach().clone().requires_grad_(True)
    f = prior.head(w, k).detach().clone().requires_grad_(True)
    prior.tail(f, w, k).square().sum().backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
    # every stage from k on is steered by its own w entry (w+), earlier entries are unused by the tail
    assert all(w.grad[:, i].abs().sum() > 0 for i in range(k, prior.num_ws))


def test_save_load_roundtrip_gives_identical_outputs_and_record(tmp_path):
    prior = tiny_prior(size=28)
    record = {"dataset": "mnist", "steps": 7, "license": "MIT"}
    path = tmp_path / "p.safetensors"
    digest = save_prior(prior, path, record)
    loaded, rec = load_prior(path)
    assert isinstance(loaded, ConditionalGenerator) and loaded.config() == prior.config()
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    z, y = latents(prior)
    assert torch.equal(loaded(z, y), prior(z, y))
    assert {k: rec[k] for k in record} == record
    assert rec["sha256"] == digest and len(rec["file_sha256"]) == 64
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file behind


def bad_files(tmp_path):
    good = tmp_path / "good.safetensors"
    save_prior(tiny_prior(), good, {"source": "test"})
    data = good.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) - 100])
    (tmp_path / "garbage.safetensors").write_bytes(b"this is not a tensor file")
    flipped = bytearray(data)
    flipped[-3] ^= 0xFF  # a bit flip in the weights: caught by the stored sha256
    (tmp_path / "flipped.safetensors").write_bytes(bytes(flipped))
    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    save_file(
        {"x": torch.zeros(2)}, str(tmp_path / "synset.safetensors"), metadata={"latentdd_kind": "synset"}
    )
    meta = {
        "latentdd_kind": "prior",
        "format_version": "1",
        "arch": "stylegan9",
        "config": "{}",
        "record": "{}",
    }
    save_file({"x": torch.zeros(2)}, str(tmp_path / "alien.safetensors"), metadata=meta)
    return [
        ("missing.safetensors", "not found"),
        ("truncated.safetensors", "corrupt or wrong format"),
        ("garbage.safetensors", "corrupt or wrong format"),
        ("flipped.safetensors", "corrupt or wrong format"),
        ("plain.safetensors", "corrupt or wrong format"),
        ("synset.safetensors", "is a latentdd synset file, not a prior"),
        ("alien.safetensors", "architecture 'stylegan9'"),
    ]


def test_bad_prior_files_raise_one_line_user_errors(tmp_path):
    for name, needle in bad_files(tmp_path):
        with pytest.raises(UserError) as info:
            load_prior(tmp_path / name)
        msg = str(info.value)
        assert needle in msg and name in msg and "\n" not in msg, (name, msg)


def test_random_prior_is_deterministic_per_seed_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b, c = (make_random_prior(10, 1, 28, seed=s) for s in (5, 5, 6))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert not any(p.requires_grad for p in a.parameters()) and not a.training
    z, y = latents(a, n=10)
    assert torch.equal(a(z, y), b(z, y))
    assert not torch.allclose(a(z, y), c(z, y))


def test_resolve_prior_checks_that_the_prior_fits_the_dataset(tmp_path):
    prior, rec = resolve_prior("random", num_classes=4, channels=3, image_size=16, seed=2, device="cpu")
    assert (prior.num_classes, prior.image_channels, prior.image_size) == (4, 3, 16) and rec[
        "source"
    ] == "random"
    path = tmp_path / "p.safetensors"
    save_prior(tiny_prior(classes=3, channels=1, size=16), path, {"dataset": "toy"})
    prior, rec = resolve_prior(str(path), num_classes=3, channels=1, image_size=16, seed=0, device="cpu")
    assert rec["dataset"] == "toy"
    with pytest.raises(UserError, match=r"classes: prior 3, dataset 10; channels: prior 1, dataset 3"):
        resolve_prior(str(path), num_classes=10, channels=3, image_size=16, seed=0, device="cpu")
    with pytest.raises(UserError, match="no built-in prior 'nope'"):
        resolve_prior("builtin:nope", num_classes=3, channels=1, image_size=16, seed=0, device="cpu")


SHIPPED = {
    "mnist-cgen": ("mnist", 1, 28),
    "cifar10-cgen": ("cifar10", 3, 32),
    "mnist-ae": ("mnist", 1, 28),
    "cifar10-ae": ("cifar10", 3, 32),
    "fashion-mnist-ae": ("fashion-mnist", 1, 28),
}


def test_shipped_priors_are_listed_documented_and_load_offline():
    assert set(SHIPPED) <= set(builtin_priors())
    readme = (BUILTIN_DIR / "README.md").read_text(encoding="utf-8")
    described = {d["name"]: d for d in describe_builtin_priors()}
    for name, (dataset, channels, size) in SHIPPED.items():
        d = described[name]
        assert d["dataset"] == dataset and d["steps"] > 0 and d["license"] and len(d["sha256"]) == 64
        assert (
            f"`builtin:{name}`" in readme and "latentdd prior train" in readme
        )  # with the command that made it
        prior, record = resolve_prior(
            f"builtin:{name}", num_classes=10, channels=channels, image_size=size, seed=0, device="cpu"
        )
        z, y = latents(prior, n=4)
        with torch.no_grad():
            images = prior(z, y)
        assert images.shape == (4, channels, size, size) and torch.isfinite(images).all()
        assert record["sha256"] == d["sha256"]


def test_registry_lists_the_builtin_generator():
    assert "cgen" in PRIORS.names("c*")
    assert PRIORS.get("cgen") is ConditionalGenerator


# -- GAN training ------------------------------------------------------------------------------
def toy_dataset(n_per_class=8, classes=2, size=12):
    g = make_generator(0)
    x01 = torch.rand(n_per_class * classes, 1, size, size, generator=g) * 0.2
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    x01[labels == 1, :, :, : size // 2] += 0.8  # class 1 is bright on the left
    mean, std = (0.3,), (0.3,)
    return ImageDataset((x01 - 0.3) / 0.3, labels, [f"c{i}" for i in range(classes)], mean, std, "toy")


TRAIN = dict(batch_size=8, checkpoint_every=2, progress=False, disc_channels=4, seed=1, **TINY)


def test_tiny_gan_writes_checkpoint_grid_and_prior_and_resumes_at_the_right_step(tmp_path):
    data = toy_dataset()
    straight, rec = train_prior(data, steps=4, out=str(tmp_path / "a" / "p.safetensors"), **TRAIN)
    assert rec["steps"] == 4 and all(torch.isfinite(torch.tensor(v)) for v in rec["final_losses"].values())
    assert rec["dataset"] == "toy" and len(rec["dataset_sha256"]) == 64
    assert rec["distill_defaults"] == {"dm": {"layer": 0, "lr_feat": 1.0}}  # what build_config applies

    out = tmp_path / "b" / "p.safetensors"
    train_prior(data, steps=2, out=str(out), **TRAIN)
    ckpt = torch.load(checkpoint_path(out), weights_only=True)
    assert ckpt["step"] == 2
    resumed, rec2 = train_prior(data, steps=4, out=str(out), **TRAIN)  # continues from step 2
    assert torch.load(checkpoint_path(out), weights_only=True)["step"] == 4
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # 2 + 2 resumed steps == 4 steps in one go

    loaded, saved = load_prior(out)
    z, y = latents(loaded, n=4)
    assert torch.equal(loaded(z, y), resumed(z, y)) and saved["steps"] == 4
    grid = Image.open(grid_path(out))
    assert grid.size == (2 + 10 * (12 + 2), 2 + 2 * (12 + 2))  # 10 samples per row, one row per class

    _, rec3 = train_prior(data, steps=2, out=str(out), **TRAIN)  # a checkpoint past --steps: no training,
    assert rec3["steps"] == 4  # and the record names the step of the weights it saves, not --steps

    with pytest.raises(UserError, match="different settings"):
        train_prior(data, steps=4, out=str(out), **{**TRAIN, "seed": 2})


def test_progress_grids_do_not_change_training(tmp_path, monkeypatch):
    data = toy_dataset()
    quiet, _ = train_prior(data, steps=3, out=str(tmp_path / "a" / "p.safetensors"), **TRAIN)
    written = []
    real_save = train_module.save_sample_grid
    monkeypatch.setattr(
        train_module,
        "save_sample_grid",
        lambda prior, path, **kw: (written.append(path), real_save(prior, path, **kw)),
    )
    with_grids, _ = train_prior(
        data, steps=3, out=str(tmp_path / "b" / "p.safetensors"), grid_every=1, **TRAIN
    )
    assert len(written) == 3  # after steps 1 and 2 (progress) and the final grid
    for (name, a), b in zip(quiet.state_dict().items(), with_grids.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # the grids draw from their own generator and a copy of the EMA


def test_training_defaults_to_the_data_resolution_and_can_change_it(tmp_path):
    data = toy_dataset(size=12)
    prior, rec = train_prior(data, steps=1, **{**TRAIN, "image_size": 16, "spectral_norm": True})
    assert prior.image_size == 16 and rec["settings"]["seed"] == 1 and rec["settings"]["spectral_norm"]
    assert json.loads(json.dumps(rec)) == rec  # the record is plain JSON (it goes into the file)


@pytest.mark.parametrize("trainer", ["gan", "ae"])
def test_a_diverged_step_stops_training_by_name_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, trainer):
    """Both trainers share one bookkeeping (training/progress.py): a non-finite loss is refused with
    the trainer's name and the fix, and the checkpoint written before it stays as it was."""
    from latentdd.priors.training import autoencoder as ae_module
    from latentdd.priors.training import progress as progress_module

    data = toy_dataset(size=16)
    out = tmp_path / "prior.safetensors"
    real_after_step = progress_module.TrainingProgress.after_step

    def poisoned_after_step(self, step, losses):  # the third step's loss is NaN
        return real_after_step(self, step, {**losses, "poison": float("nan")} if step == 2 else losses)

    monkeypatch.setattr(progress_module.TrainingProgress, "after_step", poisoned_after_step)
    common = dict(steps=4, batch_size=6, checkpoint_every=2, out=str(out), progress=False)
    train, what, arch = {
        "gan": (train_prior, "prior", TINY),
        "ae": (
            ae_module.train_autoencoder,
            "autoencoder",
            dict(block_out_channels=(8, 16), norm_num_groups=4),
        ),
    }[trainer]
    with pytest.raises(UserError, match=rf"^{what} training diverged at step 3 .*lower --lr$"):
        train(data, **common, **arch)
    assert torch.load(checkpoint_path(out), weights_only=True)["step"] == 2 and not out.exists()
