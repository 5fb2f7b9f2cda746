import pytest
import torch

from latentdd.errors import UserError
from latentdd.priors import ConditionalGenerator
from latentdd.seeding import make_generator, seeded_global_rng
from latentdd.synth.io import SavedSynset, load_synset, save_synset
from latentdd.synth.latent import LatentSet
from latentdd.synth.pixel import PixelSet


def tiny_prior(classes=3, channels=1, size=16):
    with seeded_global_rng(0):
        return ConditionalGenerator(
            classes, channels, image_size=size, latent_dim=8, w_dim=16, base_channels=16, min_channels=8
        )


def latent_set(chunk, layer=1):
    labels = torch.arange(3).repeat_interleave(4)
    return LatentSet(tiny_prior(), layer, labels, 3, (0.5,), (0.5,), make_generator(1), chunk=chunk)


@pytest.mark.parametrize("layer", [0, 1])
def test_chunked_backward_equals_full_graph_gradient(layer):
    grad = torch.randn(12, 1, 16, 16, generator=make_generator(2))
    chunked, whole = latent_set(chunk=5, layer=layer), latent_set(chunk=100, layer=layer)
    assert torch.allclose(chunked.decode(), whole.decode(), atol=1e-5)
    chunked.backward(grad)
    # reference: one graph over all images
    imgs = whole._render(whole.f, whole.w)
    (imgs * grad).sum().backward()
    assert torch.allclose(chunked.f.grad, whole.f.grad, atol=1e-5)
    assert torch.allclose(chunked.w.grad, whole.w.grad, atol=1e-5)
    assert chunked.f.grad.abs().sum() > 0 and chunked.w.grad.abs().sum() > 0


def test_latent_set_images_are_normalized_prior_outputs():
    s = latent_set(chunk=4)
    x = s.decode()
    x01 = x * 0.5 + 0.5
    assert x.shape == (12, 1, 16, 16)
    assert x01.min() >= -1e-5 and x01.max() <= 1 + 1e-5  # tanh output mapped to [0, 1]
    assert not any(p.requires_grad for p in s.prior.parameters())
    names = {
        g["name"]: g["lr"] for g in s.param_groups(type("C", (), {"lr_feat": 10.0, "lr_latent": 0.01})())
    }
    assert names == {"feature_map": 10.0, "latent": 0.01}


def test_bad_layer_is_a_user_error():
    with pytest.raises(UserError, match="layer 9 does not exist"):
        latent_set(chunk=4, layer=9)


def test_pixel_set_accumulates_gradient():
    s = PixelSet(torch.zeros(4, 1, 8, 8), torch.tensor([0, 0, 1, 1]), 2)
    g = torch.ones(4, 1, 8, 8)
    s.backward(g)
    s.backward(g)
    assert torch.equal(s.images.grad, 2 * g)
    assert not s.decode().requires_grad


def test_synset_file_roundtrip_and_wrong_kind(tmp_path):
    saved = SavedSynset(
        torch.randn(6, 1, 8, 8),
        torch.tensor([0, 0, 1, 1, 2, 2]),
        ["a", "b c", "d"],
        (0.1,),
        (0.3,),
        {"method": "dm"},
        {"latent_w": torch.randn(6, 2, 4)},
    )
    save_synset(tmp_path / "s.safetensors", saved)
    back = load_synset(tmp_path / "s.safetensors")
    assert torch.equal(back.images, saved.images) and back.classes == ["a", "b c", "d"] and back.ipc == 2
    assert torch.equal(back.tensors["latent_w"], saved.tensors["latent_w"]) and back.meta == {"method": "dm"}
    (tmp_path / "junk.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError, match="not a readable synthetic set"):
        load_synset(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"), metadata={"latentdd_kind": "prior"})
    with pytest.raises(UserError, match="is a 'prior' file"):
        load_synset(tmp_path / "other.safetensors")
