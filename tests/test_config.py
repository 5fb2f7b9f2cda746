import pytest

from latentdd.cli.options import parse_extra_flags
from latentdd.config import build_config, config_from_yaml_text
from latentdd.errors import UserError


def test_presets_then_file_then_cli(tmp_path):
    cfg = build_config({"method": "dm", "preset": "cpu-small"})
    assert (cfg.iterations, cfg.batch_real) == (500, 64)
    paper = build_config({"method": "dm"})
    assert (paper.iterations, paper.batch_real, paper.lr_img) == (20000, 256, 1.0)
    f = tmp_path / "c.yaml"
    f.write_text("preset: cpu-small\niterations: 7\nlr_img: 3\n")
    cfg = build_config({"lr-img": "5"}, f)
    assert cfg.iterations == 7 and cfg.lr_img == 5.0 and cfg.batch_real == 64


def test_config_roundtrips_through_yaml():
    cfg = build_config({"ipc": 3, "eval_models": "convnet,mlp", "dsa": "false"})
    again = config_from_yaml_text(cfg.to_yaml())
    assert again == cfg
    assert again.eval_models == ["convnet", "mlp"] and again.dsa is False


@pytest.mark.parametrize(
    "cli, needle",
    [
        ({"syn_stepz": 3}, "unknown setting 'syn_stepz'"),
        ({"ipc": "ten"}, "--ipc expects int"),
        ({"space": "latent"}, "--prior"),
        ({"ipc": 0}, "--ipc must be at least 1"),
        ({"method": "nope"}, "no preset for method 'nope'"),
    ],
)
def test_bad_settings_name_the_problem(cli, needle):
    with pytest.raises(UserError, match=needle.replace("(", r"\(")):
        build_config(cli)


def test_bad_yaml(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("a: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        build_config({}, f)
    with pytest.raises(UserError, match="does not exist"):
        build_config({}, tmp_path / "missing.yaml")


def test_extra_flags_parser():
    assert parse_extra_flags(["--lr-img", "100", "--no-dsa", "--batch-real=64", "--flag"]) == {
        "lr_img": "100",
        "dsa": "false",
        "batch_real": "64",
        "flag": "true",
    }
    with pytest.raises(UserError, match="unexpected argument"):
        parse_extra_flags(["stray"])


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os

    from latentdd.fileio import atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temp file left behind


def test_each_methods_settings_live_with_its_presets_and_stay_flags():
    """DistillConfig is composed of the common settings and every method's registered class: a field
    declared in presets/mtt.py is a config field (flag, YAML key) without an edit to config.py."""
    from dataclasses import fields

    from latentdd.config import CommonSettings, DistillConfig
    from latentdd.presets import METHOD_SETTINGS

    names = {f.name for f in fields(DistillConfig)}
    assert {"dc", "dsa", "mtt"} <= set(METHOD_SETTINGS)
    for group in METHOD_SETTINGS.values():
        own = {f.name for f in fields(group)}
        assert own <= names and not own & {f.name for f in fields(CommonSettings)}
    assert "syn_steps" not in {f.name for f in fields(CommonSettings)}
    cfg = build_config({"method": "mtt", "ipc": 1, "syn_steps": 3})
    assert cfg.syn_steps == 3 and "syn_steps" in cfg.to_dict()
