"""`latentdd report` and `latentdd compare` on tiny real runs.

Three runs are distilled and evaluated once for the module (a few seconds each): pixel space
at IPC 1 (no random real baseline) and 2, and latent space (random-weight prior) at IPC 2
without its own baseline, so the report must borrow the pixel run's baseline at the same IPC.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil

import pytest
from conftest import TINY_SETTINGS
from PIL import Image

from latentdd import __version__, api
from latentdd.cli.main import main
from latentdd.errors import UserError
from latentdd.evaluate import get_protocol
from latentdd.report import compare_runs, published, write_report
from latentdd.report.build import SECTION_IDS
from latentdd.report.collect import load_runs
from latentdd.report.cost import latent_bytes
from latentdd.report.fmt import nbytes, pm
from latentdd.report.fulldata import FullData, FullDataMeasurer, cache_key, key_file
from latentdd.report.markdown import render_table
from latentdd.report.overview import overview_section
from latentdd.report.perclass import per_class_blocks
from latentdd.report.references import gather
from latentdd.report.text import render_text
from latentdd.synth.io import load_synset, save_synset

# conftest's settings with two cheap evaluation architectures: lenet and mlp (neither is the
# distillation model, convnet).
TINY = {**TINY_SETTINGS, "eval_models": ["lenet", "mlp"]}
N_CLASSES = 10
N_TRAIN = 5000


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-runs")

    def make(name, **over):
        run = api.distill(api.build_config({**TINY, **over, "out": str(root / name)}), progress=False)
        api.evaluate(run, progress=False)
        return run

    return {
        "pixel1": make("pixel1", ipc=1, eval_baseline=False),  # IPC 1 has no random real reference
        "pixel2": make("pixel2"),
        "latent2": make("latent2", space="latent", prior="random", iterations=2, eval_baseline=False),
    }


@pytest.fixture(scope="module")
def auto_report(runs, tmp_path_factory):
    """The default report on a CPU with an empty cache: full data not measured, and said so."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTDD_CACHE", str(out.parent / "cache"))
        files = write_report([runs["pixel1"], runs["pixel2"], runs["latent2"]], out, progress=False)
    return files, files.html.read_text(encoding="utf-8"), files.markdown.read_text(encoding="utf-8")


def embedded_pngs(html: str) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(b)))
        for b in re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    ]


def test_report_has_every_section_and_embeds_every_image(auto_report):
    files, html, md = auto_report
    assert files.markdown == files.html.with_suffix(".md")
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html
    for title in (
        "Overview",
        "Synthetic images",
        "Test accuracy",
        "Comparison grid",
        "Cost",
        "Per-class accuracy",
        "Plots",
        "Provenance",
    ):
        assert f"## {title}" in md
    images = embedded_pngs(html)
    # one strip per class and run, then three plots (two IPCs and two timed runs: all plots drawn)
    assert len(images) == N_CLASSES * 3 + 3
    for im in images[: N_CLASSES * 3]:
        im.load()
        assert im.height >= 64  # 16 px images upscaled to be seen
    assert html.count("<figcaption>") == len(images)
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<link" not in html
    assert "@media print" in html


def test_report_tables_carry_accuracy_protocol_and_references(runs, auto_report):
    _, html, md = auto_report
    loaded = load_runs([runs["pixel1"], runs["pixel2"], runs["latent2"]])
    for run in loaded:
        assert run.protocol_line() in md and run.protocol_line() in html
        for model in run.models:
            cell = pm(run.accuracy(model))
            assert cell in md and cell in html
    # the latent run has no baseline of its own and borrows the pixel run's at IPC 2
    assert "random real baseline borrowed from dm/pixel IPC 2" in md
    # the best distilled cross-architecture mean of the side-by-side table is bold
    crosses = [r.metrics["cross_arch_mean"] for r in loaded]
    row = next(line for line in md.splitlines() if line.startswith("| cross-architecture mean |"))
    best = [c.strip() for c in row.split("|")[2:5]]
    assert [c.startswith("**") for c in best] == [abs(x - max(crosses)) < 1e-9 for x in crosses]
    # full data: not measured on a CPU by default, and the report says how to get it
    assert "not measured" in md and "--full-data" in md and "--full-data" in html


def test_overview_names_a_published_whole_dataset_figure_only_while_full_data_is_unmeasured(
    runs, monkeypatch
):
    assert "84.8 ± 0.1" in published.published_whole_dataset_note("cifar10")
    assert published.published_whole_dataset_note("folder:/data/cats") is None
    loaded = load_runs([runs["pixel1"]])
    monkeypatch.setitem(published.WHOLE_DATASET, loaded[0].dataset, {"convnet": (12.3, 0.4)})

    def notes(measurer: FullDataMeasurer) -> list[str]:
        return [
            b.text
            for b in overview_section(gather(loaded, measurer)).blocks
            if getattr(b, "kind", "") == "note"
        ]

    unmeasured = notes(FullDataMeasurer(False))
    assert any("12.3 ± 0.4" in n and "different protocol" in n for n in unmeasured)
    monkeypatch.setattr(
        FullDataMeasurer,
        "for_run",
        lambda self, run: FullData(
            {m: {"mean": 50.0, "std": 0.0, "runs": [50.0]} for m in run.models}, "measured"
        ),
    )
    assert not any("12.3" in n for n in notes(FullDataMeasurer(False)))  # our own measurement replaces it


def test_report_cost_and_provenance(runs, auto_report):
    _, html, md = auto_report
    assert nbytes(N_TRAIN * 16 * 16) in md  # the full training set as uint8
    assert f"{nbytes(20 * 16 * 16)} (250× smaller)" in md  # 20 synthetic 16x16 images
    latent = load_runs([runs["latent2"]])[0]
    assert f"{nbytes(latent_bytes(gather([latent], FullDataMeasurer(False))[0]))} (float32)" in md
    assert "0 B (random weights regenerated from seed 3" in md
    assert latent.dataset_sha256 in md and latent.dataset_sha256 in html
    assert f"latentdd {__version__}" in md
    assert "random weights, architecture cgen, seed 3" in md
    assert "iterations: 4" in html  # the full config.yaml
    assert "Settings that differ between the runs" in md


def test_full_data_is_measured_once_then_read_from_the_cache(runs, tmp_path, monkeypatch):
    """mlp really trains on all 5000 images (one epoch); lenet is stubbed to keep the test quick,
    so its figures are known exactly."""
    from latentdd.evaluate import RunResult, train_and_test

    calls, checkpoints = [], []

    def measure(model, images, labels, test, *, protocol, seed, dsa, device, **kwargs):
        calls.append((model, images.shape[0], protocol.epochs, seed, dsa is not None))
        checkpoints.append(kwargs["checkpoint"])
        if model == "mlp":
            return train_and_test(
                model, images, labels, test, protocol=protocol, seed=seed, dsa=dsa, device=device, **kwargs
            )
        return RunResult(
            accuracy=77.0, per_class=[77.0] * N_CLASSES, train_seconds=42.0, test_seconds=0.1, lr=0.01
        )

    monkeypatch.setattr("latentdd.report.fulldata.train_and_test", measure)
    monkeypatch.setenv("LATENTDD_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "full.html"
    write_report([runs["pixel2"], runs["latent2"]], out, full_data=True, full_data_epochs=1, progress=False)
    # both runs evaluate lenet and mlp with seed 3 under one protocol: two trainings serve both,
    # on the whole training set, with the protocol's augmentation, shortened to one epoch
    assert sorted(calls) == [("lenet", N_TRAIN, 1, 3, True), ("mlp", N_TRAIN, 1, 3, True)]
    cached = sorted((tmp_path / "cache" / "fulldata").glob("*.json"))
    assert len(cached) == 2
    # each network trained with a resumable checkpoint beside its cache entry, removed once the result is kept
    assert sorted(c.with_suffix(".json") for c in checkpoints) == [
        c.with_suffix(".partial.json") for c in cached
    ]
    assert not list((tmp_path / "cache" / "fulldata").glob("*.partial.pt"))
    mlp = json.loads(next(p for p in cached if p.name.startswith("mlp-")).read_text())["result"]
    assert 0.0 <= mlp["accuracy"] <= 100.0 and len(mlp["per_class"]) == N_CLASSES
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "2 network(s) trained now, 0 from the cache" in md
    assert "trained 1 epoch(s) instead of the protocol's 2" in md
    assert "77.0 ± 0.0 (n=1)" in md  # lenet's full-data accuracy in the accuracy tables
    assert "vs 42.0 s at 1 ep" in md  # and its full-data training time in the cost table
    assert ("lose most against the full data" in md) or ("no class loses" in md)

    calls.clear()
    write_report([runs["pixel2"]], out, full_data_epochs=1, progress=False)  # auto mode on a CPU: cache only
    assert calls == []
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "0 network(s) trained now, 2 from the cache" in md and "77.0 ± 0.0 (n=1)" in md
    # another protocol length is another key: not in the cache, and not measured on a CPU unasked
    full = FullDataMeasurer(None, progress=False).for_run(load_runs([runs["pixel2"]])[0])
    assert not full.available and "opt-in on a CPU" in full.note and calls == []


def test_full_data_bounded_to_some_architectures_and_seeds(runs, tmp_path, monkeypatch):
    """--full-data-models / --full-data-runs: only those networks train; the report shows them, says what
    is missing, and gives no full-data cross-architecture mean from a subset of the architectures."""
    from latentdd.evaluate import RunResult

    calls = []

    def measure(model, images, labels, test, *, protocol, seed, dsa, device, **kwargs):
        calls.append((model, seed))
        return RunResult(
            accuracy=66.0, per_class=[66.0] * N_CLASSES, train_seconds=30.0, test_seconds=0.1, lr=0.01
        )

    monkeypatch.setattr("latentdd.report.fulldata.train_and_test", measure)
    monkeypatch.setenv("LATENTDD_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bounded.html"
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "report",
                str(runs["pixel2"]),
                "--out",
                str(out),
                "--full-data",
                "--full-data-epochs",
                "1",
                "--full-data-models",
                "mlp",
                "--full-data-runs",
                "1",
                "--quiet",
            ]
        )
    assert exc.value.code == 0
    assert calls == [("mlp", 3)]
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "not measured for lenet" in md
    lines = md.splitlines()
    side = lines.index(next(line for line in lines if line.startswith("| architecture | dm/pixel")))
    assert lines[side].split("|")[4].strip() == "full data"
    assert lines[side + 2].startswith("| lenet |") and lines[side + 2].split("|")[4].strip() == "-"
    assert (
        lines[side + 3].startswith("| mlp |") and lines[side + 3].split("|")[4].strip() == "66.0 ± 0.0 (n=1)"
    )
    # no full-data cross-architecture mean from mlp alone, in either accuracy table
    crosses = [line.split("|") for line in lines if line.startswith("| cross-architecture mean |")]
    assert crosses[0][4].strip() == "-" and crosses[1][5].strip() == "-"
    per_run = next(line.split("|") for line in lines if line.startswith("| mlp |") and "%" in line)
    assert per_run[5].strip() == "66.0 ± 0.0 (n=1)" and per_run[6].strip().endswith(
        "%"
    )  # "of full data" for mlp
    assert "| mlp 15.2% (only architecture(s) measured) |" in md  # the overview's "of full data": 10.0 / 66.0
    assert "lose most against the full data (mean over 1 architecture(s))" in md

    # later reports (auto mode on a CPU) use the partial cache and say what is not in it, training nothing
    calls.clear()
    full = FullDataMeasurer(None, epochs=1, progress=False).for_run(load_runs([runs["pixel2"]])[0])
    assert calls == [] and full.available and set(full.accuracy) == {"mlp"}
    assert "1 of 2 network(s) not in the cache" in full.note
    with pytest.raises(UserError, match="lenett"):
        FullDataMeasurer(True, models=["lenett"])
    with pytest.raises(UserError, match="full-data-runs"):
        FullDataMeasurer(True, runs=0)
    none = FullDataMeasurer(True, models=["resnet18"], progress=False).for_run(load_runs([runs["pixel2"]])[0])
    assert not none.available and "names none of the run's architectures (lenet, mlp)" in none.note


def test_cache_key_changes_with_everything_that_changes_the_result():
    proto = get_protocol("quick", epochs=2)
    base = dict(
        dataset="embedded",
        dataset_sha256="a" * 64,
        model="mlp",
        protocol=proto,
        seed=0,
        digits=False,
        image_size=(28, 28),
    )
    same = key_file(cache_key(**base))
    assert key_file(cache_key(**base)) == same
    variants = [
        {"dataset_sha256": "b" * 64},
        {"model": "lenet"},
        {"seed": 1},
        {"digits": True},
        {"protocol": get_protocol("quick", epochs=3)},
        {"protocol": get_protocol("quick", epochs=2, lr=0.02)},
        {"protocol": get_protocol("quick", epochs=2, dsa_strategy="none")},
        {"model": "convnet"},
        {"model": "convnet", "image_size": (64, 64)},  # a ConvNet's depth follows the resolution
    ]
    files = {key_file(cache_key(**{**base, **v})) for v in variants}
    assert same not in files and len(files) == len(variants)
    # the protocol's name and model list do not change one network's training
    assert key_file(cache_key(**{**base, "protocol": get_protocol("cpu-small", epochs=2, runs=1)})) == same


def test_per_class_falls_back_to_a_baseline_that_records_classes(runs, tmp_path):
    run_dir = shutil.copytree(runs["pixel2"], tmp_path / "run")
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    for block in metrics["baseline_random_real"].values():
        block["per_class"] = [100.0] * N_CLASSES  # a perfect baseline: every class loses against it
    metrics_file.write_text(json.dumps(metrics))
    refs = gather(load_runs([run_dir]), FullDataMeasurer(False))
    (table,) = per_class_blocks(refs[0])
    assert "lose most against the random real IPC 2" in table.summary
    assert table.columns[-1] == "mean Δ" and "random real IPC 2 (Δ)" in table.columns[1]


def test_compare_marks_the_best_of_each_ipc_column(runs):
    table = compare_runs([runs["pixel1"], runs["pixel2"], runs["latent2"]])
    assert table.columns == ["objective/space", "IPC 1", "IPC 2"]
    assert [r[0].text for r in table.rows] == ["dm/pixel", "dm/latent L1", "random real (reference)"]
    loaded = {
        r.variant + str(r.ipc): r.metrics["cross_arch_mean"]
        for r in load_runs([runs["pixel1"], runs["pixel2"], runs["latent2"]])
    }
    pixel2, latent2 = loaded["dm/pixel2"], loaded["dm/latent L12"]
    assert table.rows[0][2].best == (pixel2 >= latent2) and table.rows[1][2].best == (latent2 >= pixel2)
    assert not table.rows[0][1].best  # one set at IPC 1: nothing to beat
    assert not any(c.best for c in table.rows[2])  # the reference row is never marked
    assert table.rows[1][1].text == "-"  # no latent run at IPC 1
    best_row = 0 if pixel2 >= latent2 else 1
    text = render_text(table)
    assert re.search(
        rf"{re.escape(table.rows[best_row][0].text)}\s+.*{table.rows[best_row][2].text} \*", text
    )
    assert f"**{table.rows[best_row][2].text}**" in render_table(table)


def test_cli_report_and_compare(runs, tmp_path, capsys):
    out = tmp_path / "cli.html"
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "report",
                str(runs["pixel1"]),
                str(runs["latent2"]),
                "--out",
                str(out),
                "--no-full-data",
                "--quiet",
            ]
        )
    assert exc.value.code == 0
    assert str(out) in capsys.readouterr().out and out.with_suffix(".md").is_file()
    assert "not measured (--no-full-data)" in out.read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(runs["pixel2"]), str(runs["latent2"]), "--metric", "mlp", "--markdown"])
    assert exc.value.code == 0
    printed = capsys.readouterr().out
    assert "| dm/latent L1 |" in printed and "mlp test accuracy" in printed


def cli_error(args, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("latentdd: error: ") and "\n" not in err, err
    return err


def test_bad_input_is_a_one_line_error(runs, tmp_path, capsys):
    out = str(tmp_path / "r.html")
    (tmp_path / "empty").mkdir()
    assert "is not a latentdd run" in cli_error(["report", str(tmp_path / "empty"), "--out", out], capsys)
    assert "does not exist" in cli_error(["compare", str(tmp_path / "nowhere")], capsys)

    no_metrics = shutil.copytree(runs["pixel1"], tmp_path / "no-metrics")
    (no_metrics / "metrics.json").unlink()
    assert "latentdd evaluate" in cli_error(["report", str(no_metrics), "--out", out], capsys)

    other = shutil.copytree(runs["pixel2"], tmp_path / "other-dataset")
    saved = load_synset(other / "synset.safetensors")
    saved.meta["dataset"] = "mnist"
    save_synset(other / "synset.safetensors", saved)
    assert "different datasets" in cli_error(["compare", str(runs["pixel1"]), str(other)], capsys)

    resized = shutil.copytree(runs["pixel2"], tmp_path / "other-content")
    saved = load_synset(resized / "synset.safetensors")
    saved.meta["dataset_sha256"] = "0" * 64
    save_synset(resized / "synset.safetensors", saved)
    assert "saw different data" in cli_error(
        ["report", str(runs["pixel1"]), str(resized), "--out", out], capsys
    )

    assert "must name an .html file" in cli_error(["report", str(runs["pixel1"]), "--out", "r.txt"], capsys)
    assert "given twice" in cli_error(["compare", str(runs["pixel1"]), str(runs["pixel1"])], capsys)
    assert "not an evaluated architecture" in cli_error(
        ["compare", str(runs["pixel1"]), "--metric", "vit"], capsys
    )
    with pytest.raises(UserError, match="full-data-epochs"):
        FullDataMeasurer(True, epochs=0)
