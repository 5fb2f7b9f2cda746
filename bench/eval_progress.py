"""What an evaluation in progress has finished so far: reads ``RUN/eval_runs/`` (one file per
trained network, written by ``latentdd evaluate``) and prints, per set (the run's synthetic set,
or the random-real baseline) and architecture, how many seeds are done and their mean ± std.

    python bench/eval_progress.py bench/out/mnist/dm-pixel-ipc10 [--epochs 300] [--json OUT] [--markdown]

Only networks of the given epoch count are counted, so a reduced evaluation kept in the same
folder does not mix in.  A row is complete when it has ``--runs`` seeds.  Networks that a process
is training now (their claims are held) are listed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch

from latentdd.data.transforms import content_hash
from latentdd.evaluate.run_cache import RunCache
from latentdd.paths import user_cache_dir
from latentdd.synth.io import load_synset

ORDER = {name: i for i, name in enumerate(["convnet", "alexnet", "vgg11", "resnet18", "vit"])}


def progress(run_dir: Path, epochs: int) -> dict[str, dict[str, dict]]:
    saved = load_synset(run_dir / "synset.safetensors")
    synset_sha = content_hash(saved.images, saved.labels)
    found: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for f in sorted((run_dir / RunCache.FOLDER).glob("*.json")):
        entry = json.loads(f.read_text())
        key, result = entry["key"], entry["result"]
        if key["protocol"]["epochs"] != epochs:
            continue
        which = "synthetic" if key["train_sha256"] == synset_sha else "random real"
        found[which][key["model"]][key["seed"]] = result["accuracy"]
    out: dict[str, dict[str, dict]] = {}
    for which, models in found.items():
        out[which] = {}
        for model, by_seed in models.items():
            accs = [by_seed[s] for s in sorted(by_seed)]
            out[which][model] = {
                "seeds": sorted(by_seed),
                "runs": accs,
                "mean": statistics.fmean(accs),
                "std": statistics.pstdev(accs),
            }
    return out


def in_training(folder: Path, epochs: int) -> str:
    """The networks whose claims are held in ``folder``, with the epoch of their last checkpoint."""
    names = []
    for label in RunCache(folder).claimed_elsewhere():
        checkpoints = sorted(folder.glob(f"{label}-*.partial.pt"), key=lambda f: f.stat().st_mtime)
        epoch = None
        if checkpoints:
            try:
                epoch = torch.load(checkpoints[-1], map_location="cpu", weights_only=True)["epoch"]
            except Exception:  # noqa: BLE001 -- being written or damaged: just leave the epoch out
                pass
        names.append(label if epoch is None else f"{label} (checkpoint at epoch {epoch}/{epochs})")
    return ", ".join(names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--runs-wanted", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument(
        "--markdown",
        action="store_true",
        help="also print the finished networks as the Markdown table of BENCHMARKS.md",
    )
    args = ap.parse_args()
    everything = {}
    for run in args.runs:
        table = progress(Path(run), args.epochs)
        everything[run] = table
        print(f"{run} ({args.epochs} epochs)")
        for which, models in table.items():
            for model, r in models.items():
                done = (
                    "complete"
                    if len(r["seeds"]) >= args.runs_wanted
                    else f"{len(r['seeds'])}/{args.runs_wanted}"
                )
                print(
                    f"  {which:12s} {model:9s} {r['mean']:6.2f} ± {r['std']:5.2f}  seeds {r['seeds']}  {done}"
                )
        training = in_training(Path(run) / RunCache.FOLDER, args.epochs)
        if training:
            print(f"  in training now: {training}")
    baseline = in_training(user_cache_dir() / "random_real", args.epochs)
    if baseline:
        print(f"random-real networks in training now ($LATENTDD_CACHE/random_real): {baseline}")
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2) + "\n")
    if args.markdown:
        print(markdown(everything, args.epochs, args.runs_wanted))


def markdown(everything: dict[str, dict[str, dict]], epochs: int, runs_wanted: int) -> str:
    """One row per (run, set, architecture), as pasted into BENCHMARKS.md's sweep section."""
    rows = [
        f"As of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (protocol cpu-small: {epochs} epochs "
        "per network; accuracy after the last epoch):",
        "",
        "| run | set | architecture | seeds finished | test accuracy % (mean ± std over finished seeds) |",
        "|---|---|---|---|---|",
    ]
    for run, table in everything.items():
        name = "/".join(Path(run).parts[-2:])
        for which in ("random real", "synthetic"):
            for model, r in sorted(table.get(which, {}).items(), key=lambda kv: ORDER.get(kv[0], 99)):
                seeds = ", ".join(map(str, r["seeds"]))
                rows.append(
                    f"| {name} | {which} | {model} | {len(r['seeds'])} of {runs_wanted} ({seeds}) | "
                    f"{r['mean']:.2f} ± {r['std']:.2f} |"
                )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
