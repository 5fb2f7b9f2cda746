"""A prior file's recommended distillation settings: applied over the preset, never over the user."""

import pytest
from safetensors.torch import save_file

from latentdd.config import build_config
from latentdd.priors import load_prior, save_prior
from latentdd.priors.loading.resolve import BUILTIN_DIR
from latentdd.priors.recommended import recommended_settings

LATENT = {"method": "dm", "space": "latent", "preset": "cpu-small"}


def test_builtin_autoencoder_brings_its_validated_layer_and_step():
    preset_only = build_config({**LATENT, "prior": "random"})
    assert preset_only.lr_feat == 10.0  # GLaD's value: what a prior without a recommendation keeps
    cfg = build_config({**LATENT, "prior": "builtin:cifar10-ae"})
    assert (cfg.layer, cfg.lr_feat) == (1, 1.0)
    assert cfg.extra["prior_recommended"] == {"layer": 1, "lr_feat": 1.0}
    gan = build_config({**LATENT, "prior": "builtin:mnist-cgen"})
    assert (gan.layer, gan.lr_feat) == (0, 1.0)


def test_flags_and_config_files_win_over_the_prior(tmp_path):
    cfg = build_config({**LATENT, "prior": "builtin:cifar10-ae", "lr_feat": "10"})
    assert (cfg.layer, cfg.lr_feat) == (1, 10.0) and cfg.extra["prior_recommended"] == {"layer": 1}
    f = tmp_path / "c.yaml"
    f.write_text("layer: 2\nlr_feat: 3\n")
    cfg = build_config({**LATENT, "prior": "builtin:cifar10-ae"}, f)
    assert (cfg.layer, cfg.lr_feat) == (2, 3.0) and "prior_recommended" not in cfg.extra


def test_only_the_recommendation_for_this_method_applies():
    mtt = build_config({**LATENT, "method": "mtt", "prior": "builtin:cifar10-ae"})
    assert mtt.lr_feat == 10000.0 and "prior_recommended" not in mtt.extra  # MTT's preset, untouched
    pixel = build_config({"method": "dm", "space": "pixel", "prior": "builtin:cifar10-ae"})
    assert pixel.lr_feat == 10.0 and "prior_recommended" not in pixel.extra


def test_a_file_without_or_with_a_damaged_record_recommends_nothing(tmp_path):
    prior, record = load_prior(BUILTIN_DIR / "mnist-cgen.safetensors")
    bare = tmp_path / "bare.safetensors"
    save_prior(prior, bare, {k: v for k, v in record.items() if k != "distill_defaults"})
    assert recommended_settings(str(bare), "dm") == {}
    odd = tmp_path / "odd.safetensors"  # a recommendation of keys no setting has: ignored
    save_prior(prior, odd, {**record, "distill_defaults": {"dm": {"rm_rf": 1, "lr_feat": 0.5}}})
    assert recommended_settings(str(odd), "dm") == {"lr_feat": 0.5}
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    assert recommended_settings(str(junk), "dm") == {}
    empty = tmp_path / "empty.safetensors"
    save_file({}, str(empty))
    assert recommended_settings(str(empty), "dm") == {}


@pytest.mark.parametrize("spec", ["random", "module:x.y:z", "builtin:no-such-prior"])
def test_specs_that_are_not_latentdd_files_recommend_nothing(spec):
    assert recommended_settings(spec, "dm") == {}
