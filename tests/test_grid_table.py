"""bench/grid_table.py: issue 16's grid from the cpu-small tables (which row wins, what sits beside)."""

import json

import pytest
from conftest import load_bench_script


@pytest.fixture(scope="module")
def grid_table():
    return load_bench_script("grid_table")


def _row(method: str, space: str, means: list[float], ipc: int = 1, baseline: float | None = None) -> dict:
    archs = ["convnet", "alexnet", "vgg11"]
    accuracy = {a: {"mean": m, "std": 0.5} for a, m in zip(archs, means, strict=True)}
    row = {
        "dataset": "cifar10", "ipc": ipc, "method": method, "space": space, "protocol": "cpu-small",
        "epochs": 300, "seeds": [0, 1, 2], "distill_model": "convnet", "accuracy": accuracy,
        "cross_arch_mean": sum(means[1:]) / 2, "distill_seconds": 10.0,
    }  # fmt: skip
    if baseline is not None:
        row["baseline_random_real"] = {a: {"mean": baseline, "std": 1.0} for a in archs}
    return row


def test_latest_table_wins_and_latent_rows_show_their_gain_over_pixels(grid_table, tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps({
        "dm-pixel-ipc1": _row("dm", "pixel", [26, 18, 22], baseline=14.0),
        "dc-pixel-ipc1": _row("dc", "pixel", [25, 15, 17]),
        "mtt-pixel-ipc10": _row("mtt", "pixel", [40, 30, 30], ipc=10),
    }))  # fmt: skip
    new.write_text(json.dumps({
        "dm-pixel-ipc1": _row("dm", "pixel", [26, 20, 22]),
        "dm-latent-ae-ipc1": _row("dm", "latent", [26, 21, 24]),
    }))  # fmt: skip
    text = grid_table.grid_markdown("cifar10", 1, *grid_table.load_runs([old, new], 1))
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert list(lines)[1:] == ["random real", "dc-pixel-ipc1", "dm-pixel-ipc1", "dm-latent-ae-ipc1"]
    assert "| 21.0 |" in lines["dm-pixel-ipc1"] and "new.json" in lines["dm-pixel-ipc1"]  # the re-run won
    assert "| 22.5 | +1.5 |" in lines["dm-latent-ae-ipc1"]  # against the new pixel row's 21.0
    assert "| 26.0 |" in lines["dm-pixel-ipc1"] and "26.0" not in lines["dm-latent-ae-ipc1"].split("+1.5")[1]
    assert "| 28.3 |" in lines["dc-pixel-ipc1"]  # DC's published CIFAR-10 IPC 1 figure
    assert "14.0" in lines["random real"] and "old.json" in lines["random real"]
    assert "mtt-pixel-ipc10" not in text


def test_picture_draws_one_bar_per_row_with_the_seed_spread_of_the_cross_arch_mean(grid_table, tmp_path):
    pixel = _row("dc", "pixel", [25, 15, 17], baseline=14.0)
    latent = _row("dc", "latent", [26, 18, 20])
    # per seed: alexnet [17, 18, 19], vgg11 [19, 20, 21] -> cross-arch per seed 18, 19, 20
    latent["accuracy"]["alexnet"]["runs"], latent["accuracy"]["vgg11"]["runs"] = [17, 18, 19], [19, 20, 21]
    cross = ["alexnet", "vgg11"]
    assert grid_table.seed_spread(latent, cross) == pytest.approx((2 / 3) ** 0.5)
    assert grid_table.seed_spread(pixel, cross) == 0.0  # no per-seed runs: no whisker, not a made-up one
    assert grid_table.variant_label("dc-latent-ae-l1-lr1-ipc1", latent) == "latent ae-l1-lr1"
    assert grid_table.variant_label("dc-pixel-ipc1", pixel) == "pixel"
    runs = {"dc-pixel-ipc1": pixel, "dc-latent-ae-l1-lr1-ipc1": latent}
    path = tmp_path / "grid.png"
    grid_table.grid_picture("cifar10", 1, runs, {"accuracy": pixel["baseline_random_real"]}, path)
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 200
