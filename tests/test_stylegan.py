"""StyleGAN-family priors: the head/tail adapter (StyleGAN3/XL and StyleGAN2 layouts), the ``sgen``
network, NVlabs-style pickles, and ``latentdd prior train --arch sgen`` -- all at tiny size."""

import importlib
import pickle
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from latentdd.cli.main import main
from latentdd.errors import UserError
from latentdd.priors import PRIORS, load_prior, resolve_prior, save_prior
from latentdd.priors.models.sgen import SGenNetwork, SGenPrior
from latentdd.priors.models.stylegan import StyleGANPrior
from latentdd.seeding import make_generator, seeded_global_rng
from latentdd.synth.latent import LatentSet

TINY = dict(latent_dim=8, w_dim=16, base_channels=16, min_channels=8)


def tiny_sgen(classes=3, channels=1, size=16, seed=0, **kw) -> SGenPrior:
    with seeded_global_rng(seed):
        prior = PRIORS.create(
            "sgen", num_classes=classes, image_channels=channels, image_size=size, **TINY, **kw
        )
    prior.calibrate(make_generator(seed), batches=1, batch_size=16)
    return prior.requires_grad_(False)


def tiny_sgen_network(classes=3, channels=3, seed=0) -> SGenNetwork:
    with seeded_global_rng(seed):
        return SGenNetwork(8, classes, 16, 16, channels, [16, 8, 8])


def latents(prior, n=6, seed=1):
    labels = torch.arange(n) % prior.num_classes
    return prior.sample_latents(labels, make_generator(seed)), labels


# -- a StyleGAN2-layout network (blocks b4, b8, ... called x, img = block(x, img, ws)) ------------
class FakeSG2Block(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, img_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        chans = [in_channels or out_channels] + [out_channels] * self.num_conv
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans, chans[1:], strict=False)
        )
        self.affines = nn.ModuleList(nn.Linear(w_dim, out_channels) for _ in range(self.num_conv))
        self.torgb = nn.Conv2d(out_channels, img_channels, 1)
        self.rgb_affine = nn.Linear(w_dim, img_channels)

    def forward(self, x, img, ws, noise_mode="random", force_fp32=False):
        assert ws.shape[1] == self.num_conv + self.num_torgb
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        else:
            x = F.interpolate(x, scale_factor=2.0)
        for conv, affine in zip(self.convs, self.affines, strict=True):
            x = F.leaky_relu(conv(x) * (1 + affine(next(w_iter)))[:, :, None, None], 0.2)
        if img is not None:
            img = F.interpolate(img, scale_factor=2.0)
        y = self.torgb(x) * (1 + self.rgb_affine(next(w_iter)))[:, :, None, None]
        return x, (img + y if img is not None else y)


class FakeSG2Synthesis(nn.Module):
    def __init__(self, w_dim=16, img_channels=3, channels=(16, 8, 8)) -> None:
        super().__init__()
        self.block_resolutions = [4 * 2**i for i in range(len(channels))]
        self.img_resolution, self.img_channels, self.w_dim = self.block_resolutions[-1], img_channels, w_dim
        self.num_ws = 0
        for i, res in enumerate(self.block_resolutions):
            block = FakeSG2Block(channels[i - 1] if i else 0, channels[i], w_dim, img_channels)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += block.num_torgb


class FakeMapping(nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, num_ws) -> None:
        super().__init__()
        self.num_ws = num_ws
        self.fc = nn.Linear(z_dim + c_dim, w_dim)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None):
        w = self.w_avg.lerp(self.fc(torch.cat([z, c], dim=1)), truncation_psi)
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)


class FakeSG2(nn.Module):
    def __init__(self, c_dim=0) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = 8, c_dim, 16
        self.synthesis = FakeSG2Synthesis()
        self.img_resolution, self.img_channels = 16, 3
        self.mapping = FakeMapping(8, c_dim, 16, self.synthesis.num_ws)

    def forward(self, z, c, truncation_psi=1.0):
        ws, w_idx, x, img = self.mapping(z, c, truncation_psi), 0, None, None
        for res in self.synthesis.block_resolutions:
            block = getattr(self.synthesis, f"b{res}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        return img


# -- the adapter -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [16, 12])
def test_sg3_layout_head_tail_split_reproduces_the_full_forward_at_every_layer(size):
    prior = tiny_sgen(size=size)
    z, y = latents(prior)
    full = prior(z, y)
    assert full.shape == (6, 1, size, size) and torch.isfinite(full).all()
    w = prior.map_latent(z, y)
    assert w.shape == (6, prior.num_ws, 16) and prior.num_layers == len(prior.G.synthesis.layer_names)
    for k in range(prior.num_layers):
        f = prior.head(w, k)
        assert f.shape[1:] == prior.layer_shape(k)
        assert torch.allclose(prior.tail(f, w, k), full, atol=1e-6), k
    # the network's own forward (NVlabs layout) is what the adapter splits
    raw = prior.G(z, F.one_hot(y, 3).float(), truncation_psi=0.7, noise_mode="const")
    assert torch.allclose(prior._finish(raw), full, atol=1e-6)


def test_sg2_layout_head_tail_split_reproduces_the_full_forward_at_every_layer():
    with seeded_global_rng(0):
        G = FakeSG2().eval()
    prior = StyleGANPrior(G, num_classes=2, image_channels=1, image_size=12, truncation_psi=0.5)
    assert prior.layout == "sg2" and prior.num_layers == 2  # splits after b4 and after b8
    z, y = latents(prior)
    expected = F.interpolate(
        G(z, torch.zeros(6, 0), truncation_psi=0.5).mean(dim=1, keepdim=True),
        size=(12, 12),
        mode="bilinear",
        antialias=True,
    )
    w = prior.map_latent(z, y)
    assert torch.allclose(prior(z, y), expected, atol=1e-6)
    for k, (x_channels, side) in enumerate([(16, 4), (8, 8)]):
        f = prior.head(w, k)
        assert f.shape[1:] == prior.layer_shape(k) == (x_channels + 3, side, side)  # cat(x, img)
        assert torch.allclose(prior.tail(f, w, k), expected, atol=1e-6), k


def test_adapter_conditions_on_one_hot_classes_and_checks_channels():
    with seeded_global_rng(0):
        G = FakeSG2(c_dim=4).eval()
    prior = StyleGANPrior(G, class_map=[3, 1])
    assert prior.num_classes == 2 and prior.image_channels == 3 and prior.image_size == 16
    z = torch.randn(2, 8, generator=make_generator(0))
    same = torch.zeros(2, dtype=torch.long)
    assert not torch.allclose(prior(z[:1], same[:1]), prior(z[:1], same[:1] + 1))
    assert torch.allclose(
        prior(z, torch.tensor([1, 1])), G(z, F.one_hot(torch.tensor([1, 1]), 4).float(), 1.0)
    )  # GLaD samples without truncation
    with pytest.raises(UserError, match="3-channel images"):
        StyleGANPrior(G, image_channels=2)
    with pytest.raises(UserError, match="needs num_classes"):
        StyleGANPrior(FakeSG2())


def test_latent_set_on_a_stylegan_prior_decodes_and_backpropagates_to_f_and_w():
    prior = tiny_sgen(size=12)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    for k in (0, prior.num_layers - 1):
        s = LatentSet(prior, k, labels, 3, (0.5,), (0.5,), make_generator(0), chunk=4)
        images = s.decode()
        assert images.shape == (6, 1, 12, 12) and torch.isfinite(images).all()
        s.backward(torch.randn_like(images))
        assert s.f.grad is not None and s.f.grad.abs().sum() > 0
        assert (
            s.w.grad is not None and (s.w.grad[:, k + 1 :].abs().sum(dim=(0, 2)) > 0).all()
        )  # every later w
        assert not any(p.requires_grad for p in prior.parameters())


# -- sgen ------------------------------------------------------------------------------------
def test_sgen_round_trips_through_a_prior_file_and_random_sgen_resolves(tmp_path):
    prior = tiny_sgen(size=12)
    path = tmp_path / "sgen.safetensors"
    save_prior(prior, path, {"source": "test"})
    loaded, record = load_prior(path)
    assert loaded.arch == "sgen" and loaded.config() == prior.config() and record["source"] == "test"
    z, y = latents(prior)
    assert torch.equal(loaded(z, y), prior.eval()(z, y))

    a, rec = resolve_prior("random:sgen", num_classes=3, channels=1, image_size=12, seed=4)
    b, _ = resolve_prior("random:sgen", num_classes=3, channels=1, image_size=12, seed=4)
    z, y = latents(a)
    assert rec["arch"] == "sgen" and isinstance(a, SGenPrior) and torch.equal(a(z, y), b(z, y))
    assert resolve_prior("random", num_classes=3, channels=1, image_size=12, seed=4)[1]["arch"] == "cgen"
    with pytest.raises(UserError, match="unknown prior"):
        resolve_prior("random:nope", num_classes=3, channels=1, image_size=12, seed=4)


def test_sgen_mapping_learns_slower_and_calibrate_sets_per_class_truncation_centres():
    prior = tiny_sgen()
    groups = prior.optimizer_groups(1e-3)
    assert [g["lr"] for g in groups] == [1e-3, pytest.approx(1e-5)]
    assert sum(len(g["params"]) for g in groups) == len(list(prior.parameters()))
    w_avg = prior.G.mapping.w_avg
    assert w_avg.shape == (3, 16) and (w_avg.abs().sum(dim=1) > 0).all()
    z, y = latents(prior)
    prior.truncation_psi = 0.0
    w = prior.map_latent(z, y)
    assert torch.allclose(w[:, 0], w_avg[y])  # psi = 0: the class centre


# -- pickles ---------------------------------------------------------------------------------
def test_an_importable_network_pickle_loads_by_path_and_by_scheme(tmp_path):
    G = tiny_sgen_network()
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(pickle.dumps({"G": G, "D": None, "G_ema": G, "training_set_kwargs": {}}))
    prior, record = resolve_prior(
        str(path), num_classes=3, channels=1, image_size=12, seed=0, trust_pickle=True
    )
    assert (
        isinstance(prior, StyleGANPrior) and record["arch"] == "stylegan" and len(record["file_sha256"]) == 64
    )
    z, y = latents(prior)
    assert prior(z, y).shape == (6, 1, 12, 12)
    mapped, rec = resolve_prior(
        f"stylegan:{path}?truncation_psi=1&classes=[2,0]",
        num_classes=2,
        channels=3,
        image_size=16,
        seed=0,
        trust_pickle=True,
    )
    assert rec["config"]["class_map"] == [2, 0] and mapped.truncation_psi == 1.0
    with pytest.raises(UserError, match="conditioned on 3 classes"):
        resolve_prior(str(path), num_classes=10, channels=1, image_size=12, seed=0, trust_pickle=True)


def test_a_pickle_whose_code_is_missing_gives_a_one_line_error_naming_the_module(tmp_path, monkeypatch):
    code = tmp_path / "code"
    code.mkdir()
    (code / "sg_vanished_mod.py").write_text(
        "from latentdd.priors.models.sgen import SGenNetwork\n\nclass Net(SGenNetwork):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(code))
    mod = importlib.import_module("sg_vanished_mod")
    with seeded_global_rng(0):
        G = mod.Net(8, 3, 16, 16, 3, [16, 8, 8])
    path = tmp_path / "net.pkl"
    path.write_bytes(pickle.dumps({"G_ema": G}))
    monkeypatch.delitem(sys.modules, "sg_vanished_mod")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(code)])
    importlib.invalidate_caches()
    with pytest.raises(UserError) as err:
        resolve_prior(f"stylegan:{path}", num_classes=3, channels=1, image_size=12, seed=0, trust_pickle=True)
    msg = str(err.value)
    assert "'sg_vanished_mod'" in msg and "PYTHONPATH" in msg and "\n" not in msg

    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="not a readable network pickle"):
        resolve_prior(
            str(tmp_path / "junk.pkl"), num_classes=3, channels=1, image_size=12, seed=0, trust_pickle=True
        )


# -- training ---------------------------------------------------------------------------------
def test_prior_train_cli_with_arch_sgen(tmp_path, capsys):
    out = tmp_path / "sgen.safetensors"
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "prior",
                "train",
                "--arch",
                "sgen",
                "--dataset",
                "embedded",
                "--image-size",
                "12",
                "--steps",
                "2",
                "--device",
                "cpu",
                "--out",
                str(out),
                "--quiet",
            ]
        )
    assert exc.value.code == 0, capsys.readouterr()
    prior, record = load_prior(out)
    assert prior.arch == "sgen" and record["settings"]["arch"] == "sgen" and record["steps"] == 2
    assert out.with_suffix(".grid.png").is_file()


def test_sgen_training_is_reproducible_and_resumes_exactly(tmp_path):
    """The noise inputs draw from the global RNG in training mode: the trainer seeds them from its own
    checkpointed generator, so two runs agree and 2 + 2 resumed steps equal 4 in one go."""
    from latentdd.data.dataset import ImageDataset
    from latentdd.priors.training.gan import train_prior
    from latentdd.seeding import make_generator

    g = make_generator(0)
    data = ImageDataset(
        torch.randn(24, 1, 16, 16, generator=g),
        torch.arange(3).repeat_interleave(8),
        ["a", "b", "c"],
        (0.0,),
        (1.0,),
        "toy",
    )
    kw = dict(arch="sgen", batch_size=8, checkpoint_every=2, progress=False, disc_channels=4, seed=1, **TINY)
    first, _ = train_prior(data, steps=4, **kw)
    torch.randn(5)  # the caller's global RNG must not matter
    second, _ = train_prior(data, steps=4, **kw)
    out = tmp_path / "s.safetensors"
    train_prior(data, steps=2, out=str(out), **kw)
    resumed, _ = train_prior(data, steps=4, out=str(out), **kw)
    for (name, a), b, c in zip(
        first.state_dict().items(), second.state_dict().values(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b) and torch.equal(a, c), name


def test_sampled_starts_are_sanitized_and_clipped_as_glad_does():
    """GLaD's prepare_latents: nan_to_num(posinf=5, neginf=-5), then clip to [-10, 10]."""
    with seeded_global_rng(0):
        prior = StyleGANPrior(FakeSG2(c_dim=4).eval(), class_map=[3, 1])
    assert prior.truncation_psi == 1.0
    raw = torch.tensor([[float("nan"), float("inf"), -float("inf"), 50.0, -3.0]])
    prior.head = lambda w, k: raw  # a start with every kind of bad value
    start = prior.start_features(torch.zeros(1, 1), 0)
    assert start.tolist() == [[0.0, 5.0, -5.0, 10.0, -3.0]]


def test_gpu_written_and_g_only_pickles_load_on_a_cpu(tmp_path, monkeypatch):
    """StyleGAN-XL dumps live CUDA modules: their storages name a CUDA device, which plain unpickling
    cannot restore on a CPU; GLaD's random-generator pickles hold only 'G'."""
    G = tiny_sgen_network()
    with monkeypatch.context() as m:  # what a GPU machine writes: every storage tagged cuda:0
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        blob = pickle.dumps({"G": G, "D": None})
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            pickle.loads(blob)  # noqa: S301  (the failure the loader must avoid)
    path = tmp_path / "gpu-g-only.pkl"
    path.write_bytes(blob)
    prior, _ = resolve_prior(str(path), num_classes=3, channels=1, image_size=12, seed=0, trust_pickle=True)
    z, y = latents(prior)
    assert torch.allclose(prior(z, y), StyleGANPrior(G, image_channels=1, image_size=12)(z, y), atol=1e-6)


@pytest.mark.parametrize(
    ("module", "advice"), [("dill", "pip install dill"), ("pkg_resources", "pip install 'setuptools<81'")]
)
def test_a_pickle_needing_a_pip_package_names_the_package(tmp_path, module, advice, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # not importable, whether installed or not
    path = tmp_path / "needs.pkl"
    path.write_bytes(b"\x80\x04c" + module.encode() + b"\nthing\n.")  # GLOBAL module.thing
    with pytest.raises(UserError) as err:
        resolve_prior(str(path), num_classes=3, channels=1, image_size=12, seed=0, trust_pickle=True)
    assert advice in str(err.value) and "PYTHONPATH" not in str(err.value)
