"""Finished evaluation networks of the benchmark runs, packed one file per run.

A run folder keeps one JSON file per finished network in ``eval_runs/`` (key + result): that is how
an evaluation resumes and how a repeat is free.  ``bench/out`` does not survive a fresh machine, so
the benchmark scripts pack those files into ``bench/results/networks/<dataset>-<run>.json`` (one
file per run, committed) and unpack them into a new run folder before evaluating, which then reads
the networks back instead of training them again (hours of CPU for an IPC 10 table).

    python bench/network_results.py pack bench/out/cifar10/dm-pixel-ipc10 cifar10-dm-pixel-ipc10
    python bench/network_results.py unpack cifar10-dm-pixel-ipc10 bench/out/cifar10/dm-pixel-ipc10
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from latentdd.fileio import atomic_write_json, atomic_write_text

PACKED = Path(__file__).resolve().parent / "results" / "networks"


def pack(run_dir: Path, name: str, folder: Path = PACKED) -> int:
    """Add the run's finished networks to ``folder/name.json`` (kept ones stay); returns the count."""
    path = folder / f"{name}.json"
    packed = json.loads(path.read_text()) if path.is_file() else {}
    for file in sorted((run_dir / "eval_runs").glob("*.json")):
        packed[file.name] = json.loads(file.read_text())
    atomic_write_json(path, dict(sorted(packed.items())))
    return len(packed)


def unpack(name: str, run_dir: Path, folder: Path = PACKED) -> int:
    """Write the packed networks into ``run_dir/eval_runs`` (files already there are kept)."""
    path = folder / f"{name}.json"
    if not path.is_file():
        return 0
    target = run_dir / "eval_runs"
    written = 0
    for file_name, content in json.loads(path.read_text()).items():
        if not (target / file_name).exists():
            atomic_write_text(target / file_name, json.dumps(content, indent=2) + "\n")
            written += 1
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="RUN_DIR NAME: eval_runs/*.json -> bench/results/networks/NAME.json")
    p.add_argument("run_dir", type=Path)
    p.add_argument("name")
    u = sub.add_parser("unpack", help="NAME RUN_DIR: bench/results/networks/NAME.json -> RUN_DIR/eval_runs")
    u.add_argument("name")
    u.add_argument("run_dir", type=Path)
    args = ap.parse_args()
    if args.command == "pack":
        print(f"{pack(args.run_dir, args.name)} network(s) in {PACKED / args.name}.json")
    else:
        print(f"{unpack(args.name, args.run_dir)} network(s) written into {args.run_dir / 'eval_runs'}")


if __name__ == "__main__":
    main()
