"""Bring-your-own priors (module:), provenance in the run folder, --learn-prior, --layer auto."""

import json
import sys
import textwrap

import pytest
import torch

from latentdd import api
from latentdd.config import build_config
from latentdd.errors import UserError
from latentdd.priors import resolve_prior
from latentdd.priors.loading.sources.module import parse_module_spec
from latentdd.priors.models.adapter import InterfacePrior
from latentdd.synth.io import load_synset

# A generator that knows nothing of latentdd: it only implements the documented interface.
USER_MODULE = textwrap.dedent("""
    import torch
    from torch import nn
    import torch.nn.functional as F

    class TinyGen(nn.Module):
        def __init__(self, num_classes, image_channels, image_size, width=8):
            super().__init__()
            self.num_classes, self.image_channels, self.image_size = num_classes, image_channels, image_size
            self.latent_dim, self.width = 6, width
            self.embed = nn.Embedding(num_classes, 6)
            self.fc = nn.Linear(6, width * 4 * 4)
            self.up = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(2)])
            self.out = nn.Conv2d(width, image_channels, 1)

        num_layers = 3

        def layer_shape(self, k):
            side = 4 * 2 ** k
            return (self.width, side, side)

        def map_latent(self, z, labels):
            return (z + self.embed(labels)).unsqueeze(1).expand(-1, 3, -1)

        def head(self, w, k):
            f = self.fc(w[:, 0]).view(-1, self.width, 4, 4)
            for i in range(k):
                f = torch.relu(self.up[i](F.interpolate(f, scale_factor=2.0)))
            return f

        def tail(self, f, w, k):
            for i in range(k, 2):
                f = torch.relu(self.up[i](F.interpolate(f, scale_factor=2.0)))
            x = torch.tanh(self.out(f) + w[:, -1, :1, None, None])
            return F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear")

    def make(num_classes, image_channels, image_size, width=8):
        torch.manual_seed(0)
        return TinyGen(num_classes, image_channels, image_size, width)

    class WalkingGen(TinyGen):
        def advance(self, f, w, k):  # optional: layer k's feature map to layer k + 1's (--walk-to)
            return torch.relu(self.up[k](F.interpolate(f, scale_factor=2.0)))

    def make_walking(num_classes, image_channels, image_size):
        torch.manual_seed(0)
        return WalkingGen(num_classes, image_channels, image_size)

    def not_a_prior(**kw):
        return nn.Linear(2, 2)
""")


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_generators.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("my_generators", None)


def test_module_spec_parsing():
    assert parse_module_spec("a.b:make?width=4&name=x&sizes=[1,2]") == (
        "a.b",
        "make",
        {"width": 4, "name": "x", "sizes": [1, 2]},
    )
    assert parse_module_spec("dir/gen.py:make") == ("dir/gen.py", "make", {})
    with pytest.raises(UserError, match="names no factory"):
        parse_module_spec("just_a_module")


def test_local_paths_in_specs_are_stored_absolute(user_module, monkeypatch):
    """A run records its prior so that `--resume` works from another working directory."""
    from latentdd.priors.loading.resolve import absolute_spec

    (user_module / "net.pkl").write_bytes(b"")
    (user_module / "vae").mkdir()
    monkeypatch.chdir(user_module)
    root = str(user_module.resolve())
    assert (
        absolute_spec("module:my_generators.py:make_tiny?width=4")
        == f"module:{root}/my_generators.py:make_tiny?width=4"
    )
    assert absolute_spec("stylegan:net.pkl") == f"stylegan:{root}/net.pkl"
    assert absolute_spec("net.pkl") == f"{root}/net.pkl"
    assert absolute_spec("diffusers:vae?subfolder=vae") == f"diffusers:{root}/vae?subfolder=vae"
    for unchanged in (
        "module:my_generators:make_tiny",
        "diffusers:stabilityai/sd-vae-ft-mse",
        "random:sgen",
        "random",
        "builtin:mnist",
        "missing.safetensors",
    ):
        assert absolute_spec(unchanged) == unchanged


def test_module_prior_by_import_path_and_by_file(user_module):
    prior, rec = resolve_prior(
        "module:my_generators:make?width=4",
        num_classes=10,
        channels=1,
        image_size=16,
        seed=0,
        license="MIT (declared)",
        source="https://example.org/gen",
    )
    assert isinstance(prior, InterfacePrior) and prior.num_layers == 3 and prior.inner.width == 4
    assert rec["factory"] == "my_generators:make" and rec["kwargs"] == {"width": 4}
    assert len(rec["module_file"]["file_sha256"]) == 64
    assert rec["declared_license"] == "MIT (declared)" and rec["declared_source"] == "https://example.org/gen"
    z = prior.sample_latents(torch.arange(3), torch.Generator().manual_seed(0))
    w = prior.map_latent(z, torch.arange(3))
    for k in range(3):
        assert prior.tail(prior.head(w, k), w, k).shape == (3, 1, 16, 16)
    by_file, _ = resolve_prior(
        f"module:{user_module / 'my_generators.py'}:make", num_classes=10, channels=1, image_size=16, seed=0
    )
    assert by_file.num_layers == 3


@pytest.mark.parametrize(
    "spec, message",
    [
        ("module:no_such_pkg.gen:make", "cannot import prior module 'no_such_pkg.gen'"),
        ("module:my_generators:missing", "has no callable 'missing'"),
        ("module:my_generators:not_a_prior", "lacks num_classes, image_channels"),
        ("module:my_generators:make?colour=red", "check the ?key=value arguments"),
        ("module:nowhere/gen.py:make", "not found"),
    ],
)
def test_module_prior_errors_name_the_problem(user_module, spec, message):
    with pytest.raises(UserError, match=message.replace("?", r"\?").replace("(", r"\(")):
        resolve_prior(spec, num_classes=10, channels=1, image_size=16, seed=0)


def test_latent_run_with_module_prior_copies_provenance(tiny_settings, user_module):
    cfg = build_config(
        {
            **tiny_settings,
            "space": "latent",
            "prior": "module:my_generators:make",
            "layer": 2,
            "prior_license": "CC0 (declared)",
            "prior_source": "unit test",
        }
    )
    run = api.distill(cfg, progress=False)
    record = json.loads((run / "prior.json").read_text())
    assert record["spec"] == "module:my_generators:make" and record["declared_license"] == "CC0 (declared)"
    assert json.loads((run / "distill.json").read_text())["prior"] == record


def test_a_module_prior_walks_through_its_layers_only_when_it_defines_advance(tiny_settings, user_module):
    walk = {**tiny_settings, "space": "latent", "layer": 0, "walk_to": 2, "iterations": 3}
    run = api.distill(build_config({**walk, "prior": "module:my_generators:make_walking"}), progress=False)
    assert load_synset(run / "synset.safetensors").meta["layer"] == 2
    plain = {**walk, "prior": "module:my_generators:make", "out": str(user_module / "plain")}
    with pytest.raises(UserError, match="cannot carry feature maps from one layer to the next"):
        api.distill(build_config(plain), progress=False)


def test_learn_prior_moves_generator_weights_and_saves_them(tiny_settings):
    settings = {**tiny_settings, "space": "latent", "prior": "random", "layer": 1, "iterations": 3}
    fixed = load_synset(api.distill(build_config(settings), progress=False) / "synset.safetensors")
    tuned = load_synset(
        api.distill(
            build_config(
                {**settings, "learn_prior": True, "lr_prior": 0.1, "out": settings["out"] + "-tuned"}
            ),
            progress=False,
        )
        / "synset.safetensors"
    )
    assert not any(k.startswith("prior.") for k in fixed.tensors)
    prior_keys = [k for k in tuned.tensors if k.startswith("prior.")]
    assert prior_keys
    from latentdd.priors import make_random_prior

    original = make_random_prior(10, 1, 16, seed=tiny_settings["seed"]).state_dict()
    moved = [k for k in prior_keys if not torch.equal(tuned.tensors[k], original[k.removeprefix("prior.")])]
    assert moved, "fine-tuning changed no generator weight"
    with pytest.raises(UserError, match="--learn-prior fine-tunes a generator"):
        build_config({**tiny_settings, "learn_prior": True})


def test_layer_auto_scores_every_candidate_on_a_validation_split(tiny_settings, monkeypatch):
    import latentdd.engine.layer_auto as layer_auto

    seen_test_sets = []
    real_train_and_test = layer_auto.train_and_test

    def spy(model, images, labels, test, **kw):
        seen_test_sets.append(len(test))
        return real_train_and_test(model, images, labels, test, **kw)

    monkeypatch.setattr(layer_auto, "train_and_test", spy)
    cfg = build_config(
        {
            **tiny_settings,
            "space": "latent",
            "prior": "random",
            "layer": "auto",
            "layer_auto_iterations": 2,
            "layer_auto_epochs": 2,
            "layer_auto_models": ["mlp"],
            "layer_auto_val_per_class": 5,
            "layer_auto_seeds": 2,
        }
    )
    run = api.distill(cfg, progress=False)
    chosen = json.loads((run / "distill.json").read_text())["layer_auto"]
    assert set(chosen["scores"]) == {"0", "1"}  # the 16 px random prior has two layers
    assert chosen["chosen"] in (0, 1) and chosen["seconds"] > 0
    # 2 layers x 2 scorer seeds, each on 5 held-out training images x 10 classes, never the test split
    assert seen_test_sets == [50, 50, 50, 50]
    assert load_synset(run / "synset.safetensors").meta["layer"] == chosen["chosen"]
    assert f"layer: {chosen['chosen']}" in (run / "config.yaml").read_text()


def test_layer_values_are_checked():
    with pytest.raises(UserError, match="--layer-auto-seeds must be at least 1"):
        build_config({"layer_auto_seeds": 0})
    with pytest.raises(UserError, match="--layer must be a layer index"):
        build_config({"layer": "top", "space": "latent", "prior": "random"})
    assert build_config({"layer": "AUTO", "space": "latent", "prior": "random"}).layer == "auto"
    assert build_config({"layer": "2"}).layer == 2
