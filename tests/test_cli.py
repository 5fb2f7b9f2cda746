"""The command line end to end at tiny size, and every bad input of the foundation issue."""

import json
import subprocess
import sys

import pytest
import torch

from latentdd.cli.main import main
from latentdd.priors import make_random_prior, save_prior

TINY = [
    "--dataset",
    "embedded",
    "--image-size",
    "16",
    "--ipc",
    "2",
    "--iterations",
    "3",
    "--batch-real",
    "8",
    "--model-args",
    "width=16,depth=2",
    "--eval-models",
    "convnetd1,mlp",
    "--eval-epochs",
    "2",
    "--eval-runs",
    "1",
    "--device",
    "cpu",
    "--quiet",
]


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_prior_list_names_the_shipped_priors(capsys):
    code, stdout, _ = run_cli(["prior", "list"], capsys)
    assert code == 0 and "builtin:mnist-cgen" in stdout and "license:" in stdout


def test_distill_then_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(["distill", *TINY, "--out", str(out)], capsys)
    assert code == 0, stdout
    assert "convnetd1" in stdout and (out / "metrics.json").is_file()
    kept_by_distill = len(list((out / "eval_runs").glob("*.json")))
    code, stdout, _ = run_cli(
        ["evaluate", str(out), "--models", "mlp", "--epochs", "1", "--runs", "2", "--no-baseline", "--quiet"],
        capsys,
    )
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["accuracy"]) == ["mlp"] and len(metrics["accuracy"]["mlp"]["runs"]) == 2
    assert "baseline_random_real" not in metrics
    kept = len(list((out / "eval_runs").glob("*.json")))
    assert kept == kept_by_distill + 2  # one file per finished network

    # the same command again reuses both networks; --fresh trains them again
    again = ["evaluate", str(out), "--models", "mlp", "--epochs", "1", "--runs", "2", "--no-baseline"]
    code, stdout, _ = run_cli(again, capsys)
    assert code == 0 and "2 of 2 run(s) were already finished" in stdout
    assert json.loads((out / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    code, stdout, _ = run_cli([*again, "--fresh"], capsys)
    assert code == 0 and "already finished" not in stdout

    # a bare synthetic-set file keeps its networks beside it, named after it
    alone = tmp_path / "alone" / "my.set.safetensors"
    alone.parent.mkdir()
    alone.write_bytes((out / "synset.safetensors").read_bytes())
    code, _, _ = run_cli(
        [
            "evaluate",
            str(alone),
            "--models",
            "mlp",
            "--epochs",
            "1",
            "--runs",
            "1",
            "--no-baseline",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0 and (alone.parent / "my.set.metrics.json").is_file()
    assert len(list((alone.parent / "my.set.eval_runs").glob("mlp-seed0-*.json"))) == 1


def test_resume_of_a_finished_run_is_a_no_op(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["distill", *TINY, "--no-eval", "--out", str(out)], capsys)[0] == 0
    before = (out / "synset.safetensors").read_bytes()
    assert run_cli(["distill", "--resume", str(out), "--no-eval", "--quiet"], capsys)[0] == 0
    assert (out / "synset.safetensors").read_bytes() == before


def bad_inputs(tmp_path):
    (tmp_path / "notrun").mkdir()
    (tmp_path / "corrupt.safetensors").write_bytes(b"not a tensor file at all")
    from safetensors.torch import save_file

    save_file(
        {"x": torch.zeros(1)}, str(tmp_path / "synset.safetensors"), metadata={"latentdd_kind": "synset"}
    )
    save_prior(make_random_prior(10, 1, 16, seed=0), tmp_path / "p.safetensors", {"source": "test"})
    folder = tmp_path / "imgs"
    for cls in ("cat", "dog"):
        (folder / cls).mkdir(parents=True)
        for i in range(3):
            from PIL import Image

            Image.new("L", (20, 20), color=40 * i).save(folder / cls / f"{i}.png")
    (folder / "dog" / "broken.png").write_text("this is not a png")
    out = str(tmp_path / "out")
    return [
        (["distill", "--dataset", "imagenet-zzz", "--out", out], "unknown dataset 'imagenet-zzz'"),
        (["distill", "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere"), "--out", out], "nowhere"),
        (["distill", *TINY, "--ipc", "100000", "--out", out], "--ipc 100000 is larger than class"),
        (
            [
                "distill",
                *TINY,
                "--space",
                "latent",
                "--prior",
                str(tmp_path / "corrupt.safetensors"),
                "--out",
                out,
            ],
            "corrupt.safetensors",
        ),
        (
            [
                "distill",
                *TINY,
                "--space",
                "latent",
                "--prior",
                str(tmp_path / "synset.safetensors"),
                "--out",
                out,
            ],
            "synset.safetensors",
        ),
        (
            [
                "distill",
                *TINY,
                "--space",
                "latent",
                "--prior",
                str(tmp_path / "p.safetensors"),
                "--layer",
                "7",
                "--out",
                out,
            ],
            "layer 7 does not exist",
        ),
        (["distill", "--dataset", f"folder:{folder}", "--ipc", "1", "--out", out], "broken.png"),
        (["distill", "--resume", str(tmp_path / "notrun")], "not a latentdd run"),
        (["evaluate", str(tmp_path / "notrun")], "not a latentdd run"),
        (["distill", *TINY, "--lr-imgg", "3", "--out", out], "unknown setting 'lr_imgg'"),
    ]


def test_bad_input_gives_one_line_and_exit_2(tmp_path, capsys):
    for args, needle in bad_inputs(tmp_path):
        code, stdout, stderr = run_cli(args, capsys)
        assert code == 2, (args, stdout, stderr)
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("latentdd: error:"), (args, stderr)
        assert needle in lines[0], (needle, lines[0])
        assert "Traceback" not in stderr
        assert not (tmp_path / "out" / "synset.safetensors").exists()


def test_console_script_runs_as_a_process():
    proc = subprocess.run(
        [sys.executable, "-m", "latentdd.cli.main", "distill", "--dataset", "nope", "--out", "x"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "unknown dataset" in proc.stderr


def test_random_real_baseline_is_trained_once_per_dataset_and_ipc(tmp_path, capsys, monkeypatch):
    """Two runs of the same dataset and IPC share the baseline networks; --fresh trains them again."""
    monkeypatch.setenv("LATENTDD_CACHE", str(tmp_path / "cache"))
    first, second = tmp_path / "a", tmp_path / "b"
    for out, seed in ((first, "1"), (second, "2")):
        assert run_cli(["distill", *TINY, "--seed", seed, "--no-eval", "--out", str(out)], capsys)[0] == 0
    args = ["--models", "mlp", "--epochs", "1", "--runs", "2", "--baseline", "--seed", "0"]
    code, stdout, _ = run_cli(["evaluate", str(first), *args], capsys)
    assert code == 0 and "already finished" not in stdout
    code, stdout, _ = run_cli(["evaluate", str(second), *args], capsys)
    assert code == 0
    assert "random real (2/class): 2 of 2 run(s) were already finished" in stdout  # the baseline: reused
    assert "evaluate: 2 of 2" not in stdout  # the synthetic set: another set, trained
    a, b = (json.loads((r / "metrics.json").read_text()) for r in (first, second))
    assert a["baseline_random_real"] == b["baseline_random_real"]
    assert len(list((second / "eval_runs").glob("*.json"))) == 4  # the run folder is complete on its own
    code, stdout, _ = run_cli(["evaluate", str(second), *args, "--fresh"], capsys)
    assert code == 0 and "already finished" not in stdout
