"""A prior file's recommended distillation settings: applied over the preset, never over the user."""

import pytest
from conftest import load_bench_script
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
    assert (cfg.layer, cfg.lr_feat) == (0, 1.0)  # validate_cifar10_ipc1_3seeds.json chose layer 0
    assert cfg.extra["prior_recommended"] == {"layer": 0, "lr_feat": 1.0}
    mtt = build_config({**LATENT, "method": "mtt", "prior": "builtin:cifar10-ae"})
    assert (mtt.layer, mtt.lr_feat) == (1, 1000.0)  # validate_cifar10_mtt.json: 10x below MTT's preset
    gan = build_config({**LATENT, "prior": "builtin:mnist-cgen"})
    assert (gan.layer, gan.lr_feat) == (0, 1.0)


def test_flags_and_config_files_win_over_the_prior(tmp_path):
    cfg = build_config({**LATENT, "prior": "builtin:cifar10-ae", "lr_feat": "10"})
    assert (cfg.layer, cfg.lr_feat) == (0, 10.0) and cfg.extra["prior_recommended"] == {"layer": 0}
    f = tmp_path / "c.yaml"
    f.write_text("layer: 2\nlr_feat: 3\n")
    cfg = build_config({**LATENT, "prior": "builtin:cifar10-ae"}, f)
    assert (cfg.layer, cfg.lr_feat) == (2, 3.0) and "prior_recommended" not in cfg.extra


def test_only_the_recommendation_for_this_method_applies():
    mtt = build_config({**LATENT, "method": "mtt", "prior": "builtin:mnist-ae"})
    assert mtt.lr_feat == 10000.0 and "prior_recommended" not in mtt.extra  # MTT's preset, untouched
    # the CIFAR-10 file records dm and mtt only: dc keeps its preset
    dc = build_config({**LATENT, "method": "dc", "prior": "builtin:cifar10-ae"})
    assert (dc.layer, dc.lr_feat) == (1, 1.0) and "prior_recommended" not in dc.extra
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


def test_a_validated_choice_is_recorded_per_method_with_the_weights_untouched(tmp_path, monkeypatch):
    import sys

    from latentdd.priors import make_random_prior

    path = tmp_path / "p.safetensors"
    digest = save_prior(make_random_prior(10, 1, 16, seed=0), path, {"source": "test"})
    module = load_bench_script("record_recommendation")
    argv = [str(path), "--method", "dc", "--set", "layer=0", "--set", "lr_feat=0.1", "--evidence", "a test"]
    monkeypatch.setattr(sys, "argv", ["record_recommendation.py", *argv])
    module.main()
    assert recommended_settings(str(path), "dc") == {"layer": 0, "lr_feat": 0.1}
    assert recommended_settings(str(path), "dm") == {}
    _, record = load_prior(path)  # verifies the weights against their recorded sha256
    assert record["sha256"] == digest and record["distill_defaults_evidence"] == {"dc": "a test"}
    monkeypatch.setattr(sys, "argv", ["record_recommendation.py", str(path), "--method", "dc", "--set",
                                      "lr_net=1", "--evidence", "x"])  # fmt: skip
    with pytest.raises(SystemExit, match="may set only"):
        module.main()
