"""Issue 16's grid in one command: DC, DSA, DM and MTT x pixel and latent space at IPC 1 on MNIST and
CIFAR-10, and MTT at IPC 10 on CIFAR-10, each latent row distilled with the variant that a validation
split chose for it -- the sequence the tables in BENCHMARKS.md were made with, for a bigger machine.

    python bench/grid16.py                       # everything (about 40 core-hours on this 2-core CPU, 20 hours of both cores)
    python bench/grid16.py --datasets mnist --methods dc dsa --dry-run   # print the steps, run nothing

Per dataset, in order:

1. pixel rows of DC, DSA and DM (``bench/cpu_small.py``; the first also trains the random-real baseline),
2. MTT's pixel rows at all of its IPCs in one sweep (they share one expert buffer, trained first; a
   buffer refuses another epoch count),
3. per method, the latent variants on a validation split carved from the training data
   (``bench/validate_variants.py``: 100 images per class held out, the method's cpu-small budget, scored
   by the test's own cross-architecture networks, 2 seeds each -- never the test set),
4. per method, the latent row with the best variant of step 3,
5. the grid per IPC (``bench/grid_table.py``: a table and a bar picture).

Every step resumes where it stopped (each script keeps finished runs, networks and variants), so
re-running this command after a kill continues; and each step may be shared, so a second copy of this command
(one per core, ``OMP_NUM_THREADS=1``) splits the distillations, networks and validation variants with the first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from latentdd.presets.mtt import mtt_whitening

BENCH = Path(__file__).resolve().parent
SHARED = BENCH.parents[1] / "shared" / "datasets"

#: latent variants validated per method, as (prior layer, lr_feat).  DC/DSA (session 16) and MTT
#: (session 17): GLaD's feature-map step at layer 1 (DC/DSA 1, MTT 10000), ten times below it, and
#: GLaD's step at layer 0.  DM: the autoencoder variants of the session-15 CIFAR-10 validation (GLaD's
#: DM step of 10 saturates latentdd's priors; its rows use layer 1 / layer 0 at 1).
CANDIDATES: dict[str, list[tuple[int, float]]] = {
    "dc": [(1, 1.0), (1, 0.1), (0, 1.0)],
    "dsa": [(1, 1.0), (1, 0.1), (0, 1.0)],
    "dm": [(1, 1.0), (1, 0.3), (0, 1.0)],
    "mtt": [(1, 10000.0), (1, 1000.0), (0, 10000.0)],
}
#: distillation iterations of each method under cpu-small: the validation runs the test's budget
ITERATIONS = {"dc": 200, "dsa": 200, "dm": 500, "mtt": 500}
PRIOR = "builtin:{dataset}-ae"


def ipcs(dataset: str, method: str) -> list[int]:
    """The grid's IPCs: 1 everywhere, and 10 for MTT on CIFAR-10 (DM IPC 10 has its own tables)."""
    return [1, 10] if (dataset, method) == ("cifar10", "mtt") else [1]


def variant_name(method: str, layer: int, lr_feat: float) -> str:
    return f"{method}-ae-l{layer}-lr{lr_feat:g}"


def best_variant(rows: list[dict], method: str) -> tuple[int, float]:
    """(layer, lr_feat) of ``method``'s latent variant with the highest validation accuracy."""
    mine = [
        r for r in rows if r["settings"].get("method") == method and r["settings"].get("space") == "latent"
    ]
    if not mine:
        raise SystemExit(f"no validated latent variant of {method}; run its validation step first")
    best = max(mine, key=lambda r: r["val_accuracy"])
    return int(best["settings"]["layer"]), float(best["settings"]["lr_feat"])


@dataclass
class Step:
    """One command of the grid; ``latent_row`` marks a command whose variant is read from the
    validation when the step runs (its choice does not exist before)."""

    what: str
    argv: list[str]
    latent_row: tuple[str, str] | None = None  # (dataset, method)


def sweep_flags(args: argparse.Namespace) -> list[str]:
    """Where bench/cpu_small.py reads data and writes runs and tables: the same for every step."""
    return [
        "--data-dir",
        args.data_dir,
        "--device",
        args.device,
        "--out",
        args.out,
        "--results",
        args.results,
    ]


def plan(args: argparse.Namespace) -> Iterator[Step]:
    py = sys.executable
    common = sweep_flags(args)
    for dataset in args.datasets:
        not_mtt = [m for m in args.methods if m != "mtt"]
        sweep = [py, str(BENCH / "cpu_small.py"), "--datasets", dataset, "--spaces", "pixel", *common]
        if not_mtt:
            yield Step(
                f"{dataset}: pixel rows of {', '.join(not_mtt)}",
                [*sweep, "--methods", *not_mtt, "--ipcs", "1"],
            )
        if "mtt" in args.methods:
            mtt_ipcs = [str(i) for i in ipcs(dataset, "mtt")]
            yield Step(
                f"{dataset}: MTT pixel rows (experts first)",
                [*sweep, "--methods", "mtt", "--ipcs", *mtt_ipcs, "--no-baseline"],
            )
        for method in args.methods:
            yield Step(
                f"{dataset}: {method} latent variants on the validation split",
                validate(dataset, method, args),
            )
        for method in args.methods:
            yield Step(f"{dataset}: {method} latent rows with the validation's choice", [], (dataset, method))
        for ipc in sorted({i for m in args.methods for i in ipcs(dataset, m)}):
            table = Path(args.results) / f"grid16_{dataset}_ipc{ipc}.md"
            yield Step(
                f"{dataset}: grid at IPC {ipc} (table and bars)",
                [py, str(BENCH / "grid_table.py"), str(Path(args.results) / f"cpu_small_{dataset}.json")]
                + ["--ipc", str(ipc), "--out", str(table), "--plot", str(table.with_suffix(".png"))],
            )


def validation_file(dataset: str, args: argparse.Namespace) -> Path:
    return Path(args.results) / f"validate_{dataset}_grid16.json"


def experts_folder(dataset: str, args: argparse.Namespace) -> Path:
    """The buffer bench/cpu_small.py trains for MTT at IPC 1 (ZCA as MTT's table says)."""
    return Path(args.out) / dataset / ("experts-zca" if mtt_whitening(dataset, 1) else "experts")


def validate(dataset: str, method: str, args: argparse.Namespace) -> list[str]:
    prior = PRIOR.format(dataset=dataset)
    argv = [
        sys.executable,
        str(BENCH / "validate_variants.py"),
        "--dataset",
        dataset,
        "--data-dir",
        args.data_dir,
    ]
    argv += ["--ipc", "1", "--iterations", str(ITERATIONS[method]), "--scorers", "alexnet,vgg11,resnet18,vit"]
    argv += ["--scorer-seeds", "2", "--out", str(validation_file(dataset, args))]
    for layer, lr_feat in CANDIDATES[method]:
        settings = f"method={method},space=latent,prior={prior},layer={layer},lr_feat={lr_feat:g}"
        if method == "mtt":
            settings += f",experts={experts_folder(dataset, args)}"
        argv += ["--variant", f"{variant_name(method, layer, lr_feat)}:{settings}"]
    return argv


def latent_row(dataset: str, method: str, args: argparse.Namespace) -> list[str]:
    """bench/cpu_small.py for ``method``'s latent rows with the variant its validation chose."""
    rows = json.loads(validation_file(dataset, args).read_text())["rows"]
    layer, lr_feat = best_variant(rows, method)
    argv = [sys.executable, str(BENCH / "cpu_small.py"), "--datasets", dataset, "--methods", method]
    argv += ["--spaces", "latent", "--ipcs", *[str(i) for i in ipcs(dataset, method)], "--prior", PRIOR]
    argv += [
        "--tag",
        f"ae-l{layer}-lr{lr_feat:g}",
        "--set",
        f"layer={layer}",
        "--set",
        f"lr_feat={lr_feat:g}",
    ]
    return [*argv, *sweep_flags(args), "--no-baseline"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"], choices=["mnist", "cifar10"])
    ap.add_argument("--methods", nargs="+", default=["dc", "dsa", "dm", "mtt"], choices=list(CANDIDATES))
    ap.add_argument("--data-dir", default=str(SHARED))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="bench/out/grid16", help="run folders and expert buffers")
    ap.add_argument(
        "--results",
        default="bench/results/grid16",
        help="tables, validations and the grid (apart from the published tables in bench/results)",
    )
    ap.add_argument("--dry-run", action="store_true", help="print the steps without running them")
    return ap


def main() -> None:
    args = build_parser().parse_args()
    for step in plan(args):
        print(f"== {step.what}", flush=True)
        if step.latent_row and args.dry_run:
            print("   bench/cpu_small.py ... --spaces latent --set layer=<chosen> --set lr_feat=<chosen>")
            continue
        argv = latent_row(*step.latent_row, args) if step.latent_row else step.argv
        print("   " + " ".join(argv), flush=True)
        if not args.dry_run:
            subprocess.run(argv, check=True)


if __name__ == "__main__":
    main()
