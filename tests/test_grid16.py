"""bench/grid16.py: the one-command grid runs its steps in the order the tables need, with commands
the scripts it calls accept, and each latent row takes the variant its validation chose."""

import json
import sys
from pathlib import Path

import pytest
from conftest import BENCH, load_bench_script


@pytest.fixture(scope="module")
def scripts(request):
    sys.path.insert(0, str(BENCH))  # cpu_small imports its neighbour network_results
    request.addfinalizer(lambda: sys.path.remove(str(BENCH)))
    return (
        load_bench_script("grid16"),
        load_bench_script("cpu_small"),
        load_bench_script("validate_variants"),
        load_bench_script("grid_table"),
    )


def _args(grid16, tmp_path, *extra):
    return grid16.build_parser().parse_args(
        ["--out", str(tmp_path / "out"), "--results", str(tmp_path), *extra]
    )


def test_steps_come_in_the_order_the_grid_needs_and_parse_in_the_scripts_they_call(scripts, tmp_path):
    grid16, cpu_small, validate_variants, grid_table = scripts
    steps = list(grid16.plan(_args(grid16, tmp_path, "--datasets", "cifar10")))
    whats = [s.what for s in steps]
    # MTT's pixel sweep trains the experts its latent validation reads, so it comes first
    assert whats.index("cifar10: MTT pixel rows (experts first)") < whats.index(
        "cifar10: mtt latent variants on the validation split"
    )
    assert whats[-2:] == [
        "cifar10: grid at IPC 1 (table and bars)",
        "cifar10: grid at IPC 10 (table and bars)",
    ]
    parsers = {
        "cpu_small.py": cpu_small.build_parser(),
        "validate_variants.py": validate_variants.build_parser(),
        "grid_table.py": grid_table.build_parser(),
    }
    for step in steps:
        if step.latent_row is None and Path(step.argv[1]).name in parsers:
            parsers[Path(step.argv[1]).name].parse_args(step.argv[2:])  # exits on an unknown flag
    mtt_pixel = next(s for s in steps if "MTT pixel" in s.what)
    parsed = cpu_small.build_parser().parse_args(mtt_pixel.argv[2:])
    assert parsed.ipcs == [1, 10] and parsed.no_baseline  # one sweep, one buffer for both IPCs
    mtt_val = next(s for s in steps if s.what.startswith("cifar10: mtt latent variants"))
    variants = validate_variants.build_parser().parse_args(mtt_val.argv[2:]).variant
    assert all(f"experts={tmp_path / 'out' / 'cifar10' / 'experts-zca'}" in v for v in variants)


def test_a_latent_row_takes_the_best_validated_variant_of_its_own_method(scripts, tmp_path):
    grid16, cpu_small, *_ = scripts
    args = _args(grid16, tmp_path, "--datasets", "mnist", "--methods", "dc", "dsa")

    def row(method, layer, lr, acc):
        settings = {"method": method, "space": "latent", "layer": layer, "lr_feat": lr}
        return {"name": grid16.variant_name(method, layer, lr), "settings": settings, "val_accuracy": acc}

    rows = [
        row("dc", 1, 1.0, 60.0),
        row("dc", 0, 1.0, 64.5),
        row("dsa", 1, 0.1, 70.0),
        row("dsa", 1, 1.0, 50.0),
    ]
    grid16.validation_file("mnist", args).write_text(json.dumps({"rows": rows}))
    dc = cpu_small.build_parser().parse_args(grid16.latent_row("mnist", "dc", args)[2:])
    assert (dc.tag, dc.overrides, dc.spaces, dc.ipcs) == (
        "ae-l0-lr1",
        ["layer=0", "lr_feat=1"],
        ["latent"],
        [1],
    )
    dsa = cpu_small.build_parser().parse_args(grid16.latent_row("mnist", "dsa", args)[2:])
    assert dsa.overrides == ["layer=1", "lr_feat=0.1"]
    with pytest.raises(SystemExit, match="no validated latent variant of mtt"):
        grid16.latent_row("mnist", "mtt", args)
