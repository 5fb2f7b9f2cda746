"""The decoder of a diffusers AutoencoderKL as a prior, with a tiny randomly initialized VAE (offline)."""

import json
import sys

import pytest
import torch

pytest.importorskip("diffusers")

from diffusers import AutoencoderKL  # noqa: E402

from latentdd import api  # noqa: E402
from latentdd.config import build_config  # noqa: E402
from latentdd.errors import UserError  # noqa: E402
from latentdd.priors.loading.resolve import resolve_prior  # noqa: E402
from latentdd.priors.models.autoencoder import MISSING_DIFFUSERS, AutoencoderKLPrior  # noqa: E402
from latentdd.seeding import make_generator, seeded_global_rng  # noqa: E402
from latentdd.synth.latent import LatentSet  # noqa: E402


def tiny_vae(**overrides) -> AutoencoderKL:
    args = dict(
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=16,
    )
    with seeded_global_rng(0):
        return AutoencoderKL(**{**args, **overrides}).eval()


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("vae")
    tiny_vae().save_pretrained(str(path))
    return path


@pytest.mark.parametrize("shift", [None, 0.25])
def test_head_then_tail_equals_decode_at_every_layer(shift):
    vae = tiny_vae(shift_factor=shift)
    prior = AutoencoderKLPrior(vae, num_classes=10, image_channels=3, image_size=16)
    assert prior.num_layers == 4
    labels = torch.arange(3)
    w = prior.map_latent(prior.sample_latents(labels, make_generator(0)), labels)
    z = w.reshape(3, 4, 8, 8)
    with torch.no_grad():
        ref = vae.decode(z / vae.config.scaling_factor + (shift or 0.0)).sample
        for k in range(prior.num_layers):
            f = prior.head(w, k)
            assert tuple(f.shape[1:]) == prior.layer_shape(k)
            assert torch.allclose(prior.tail(f, w, k), ref, atol=1e-5), k
    assert [prior.layer_shape(k) for k in range(4)] == [(4, 8, 8), (16, 8, 8), (16, 16, 16), (8, 16, 16)]
    with pytest.raises(UserError, match="--layer between 0 and 3"):
        prior.head(w, 4)


def test_init_from_images_encodes_and_splits():
    vae = tiny_vae()
    prior = AutoencoderKLPrior(vae, num_classes=2, image_channels=3, image_size=16)
    images = torch.rand(5, 3, 16, 16, generator=make_generator(1)) * 2 - 1
    labels = torch.tensor([0, 0, 1, 1, 1])
    for k in range(prior.num_layers):
        w, f = prior.init_from_images(images, labels, k, chunk=2)
        assert w.shape == (5, 1, prior.latent_dim) and f.shape == (5, *prior.layer_shape(k))
        assert not f.requires_grad
    # the latent is the scaled posterior mode, and the tail decodes it as the VAE would
    with torch.no_grad():
        mode = vae.encode(images).latent_dist.mode()
        assert torch.allclose(w.reshape(5, 4, 8, 8), mode * vae.config.scaling_factor, atol=1e-5)
        assert torch.allclose(prior.tail(f, w, 3), vae.decode(mode).sample, atol=1e-5)
    with pytest.raises(ValueError, match="N x 3 x 16 x 16"):
        prior.init_from_images(images[:, :1], labels, 0)


def test_gray_28px_dataset_decodes_resized_and_encodes_back():
    prior = AutoencoderKLPrior(tiny_vae(), num_classes=10, image_channels=1, image_size=27)
    # factor 2: 27 px decodes at 28 and is resized; the encoder sees gray replicated to RGB at 28
    assert prior.decode_size == 28 and prior.layer_shape(0) == (4, 14, 14)
    images = torch.rand(4, 1, 27, 27, generator=make_generator(2)) * 2 - 1
    w, f = prior.init_from_images(images, torch.zeros(4, dtype=torch.long), 1)
    with torch.no_grad():
        out = prior.tail(f, w, 1)
    assert out.shape == (4, 1, 27, 27) and torch.isfinite(out).all()


def test_mnist_sized_request_through_resolve(vae_dir):
    big = AutoencoderKLPrior(tiny_vae(block_out_channels=(8, 8, 8, 8)), 10, 1, 28)
    assert big.factor == 8 and big.decode_size == 32 and big.layer_shape(0) == (4, 4, 4)
    prior, record = resolve_prior(f"diffusers:{vae_dir}", num_classes=10, channels=1, image_size=28, seed=0)
    labels = torch.arange(2)
    w = prior.map_latent(prior.sample_latents(labels, make_generator(0)), labels)
    with torch.no_grad():
        assert prior.tail(prior.head(w, 2), w, 2).shape == (2, 1, 28, 28)
    assert record["config"]["decode_size"] == 28 and record["config"]["image_channels"] == 1


def test_latent_set_gradient_reaches_the_feature_map():
    prior = AutoencoderKLPrior(tiny_vae(), num_classes=3, image_channels=1, image_size=16)
    labels = torch.arange(3).repeat_interleave(2)
    for layer in (0, 2):
        s = LatentSet(prior, layer, labels, 3, (0.5,), (0.5,), make_generator(1), chunk=4)
        x = s.decode()
        assert x.shape == (6, 1, 16, 16)
        s.backward(torch.randn(x.shape, generator=make_generator(2)))
        assert s.f.grad is not None and s.f.grad.abs().sum() > 0
        assert s.w.grad is None  # the VAE has no code to steer; w only carries the start latent


def test_resolve_local_folder_records_hashes(vae_dir):
    prior, record = resolve_prior(f"diffusers:{vae_dir}", num_classes=10, channels=3, image_size=16, seed=0)
    assert isinstance(prior, AutoencoderKLPrior) and not any(p.requires_grad for p in prior.parameters())
    assert record["arch"] == "autoencoder-kl" and record["spec"] == f"diffusers:{vae_dir}"
    hashed = {p["path"].rsplit("/", 1)[-1]: p["file_sha256"] for p in record["files"]}
    assert set(hashed) == {"config.json", "diffusion_pytorch_model.safetensors"}
    assert all(len(h) == 64 for h in hashed.values())
    assert record["config"]["vae"]["block_out_channels"] == [8, 16]
    json.dumps(record)  # goes into prior.json / distill.json as is


def test_subfolder_argument_and_bad_specs(vae_dir, tmp_path):
    pipeline = tmp_path / "pipeline"
    tiny_vae().save_pretrained(str(pipeline / "vae"))
    _, record = resolve_prior(
        f"diffusers:{pipeline}?subfolder=vae", num_classes=10, channels=3, image_size=16, seed=0
    )
    assert record["subfolder"] == "vae" and len(record["files"]) == 2
    for spec, message in [
        (f"diffusers:{vae_dir}?dtype=fp16", "unknown argument"),
        (f"diffusers:{tmp_path / 'missing'}", "not found"),
        (f"diffusers:{pipeline}", "could not load an AutoencoderKL from folder"),
        ("diffusers:", "names no model"),
    ]:
        with pytest.raises(UserError, match=message):
            resolve_prior(spec, num_classes=10, channels=3, image_size=16, seed=0)


def test_hub_failure_is_one_user_error_line(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("org/vae does not appear to have a file named config.json.\nCheckout the hub")

    monkeypatch.setattr(AutoencoderKL, "from_pretrained", offline)
    with pytest.raises(UserError) as e:
        resolve_prior("diffusers:org/vae", num_classes=10, channels=3, image_size=16, seed=0)
    assert "\n" not in str(e.value) and "Hugging Face Hub" in str(e.value)


def test_missing_diffusers_says_how_to_install(monkeypatch, vae_dir):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # makes `from diffusers import ...` fail
    with pytest.raises(UserError) as e:
        resolve_prior(f"diffusers:{vae_dir}", num_classes=10, channels=3, image_size=16, seed=0)
    assert str(e.value) == MISSING_DIFFUSERS


def test_distill_end_to_end_with_a_vae_prior(tiny_settings, vae_dir):
    cfg = build_config(
        {
            **tiny_settings,
            "space": "latent",
            "prior": f"diffusers:{vae_dir}",
            "layer": 0,
            "iterations": 2,
            "checkpoint_every": 1,
        }
    )  # api.distill does not evaluate
    run = api.distill(cfg, progress=False)
    assert (run / "synset.safetensors").is_file()
    assert "autoencoder-kl" in (run / "distill.json").read_text()


def test_latent_set_starts_from_encoded_real_images():
    prior = AutoencoderKLPrior(tiny_vae(), num_classes=2, image_channels=1, image_size=16)
    labels = torch.tensor([0, 0, 1, 1])
    images = torch.rand(4, 1, 16, 16, generator=make_generator(3)) * 2 - 1  # normalized, mean 0.5 std 0.5
    s = LatentSet(prior, 1, labels, 2, (0.5,), (0.5,), make_generator(1), init_images=images)
    # with mean 0.5 and std 0.5 the normalized images are already in the prior's (-1, 1) range
    w, f = prior.init_from_images(images, labels, 1)
    assert torch.allclose(s.f, f, atol=1e-5) and torch.allclose(s.w, w)
