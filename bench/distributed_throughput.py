"""Throughput of one process with 2 threads against 2 torchrun processes with 1 thread each.

Issue 18 asks, for DM distillation, evaluation and expert training, which way of spending two
cores does more work per hour.  Each workload runs once each way, back to back, on the same data
and seed; the figures are wall-clock seconds of the whole command (start-up and data loading
included, as a user waits for them) and, for distillation, the loop's own seconds per iteration.

    python bench/distributed_throughput.py --out bench/out/throughput \
        --json bench/results/distributed_throughput.json

Run it on a quiet machine: another job on the cores changes both sides unevenly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
SINGLE = [sys.executable]


def run(kind: str, args: list[str]) -> float:
    """Wall seconds of ``latentdd ARGS`` as one 2-thread process or two 1-thread ranks."""
    threads, launch = ("2", SINGLE) if kind == "1x2" else ("1", TORCHRUN)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    started = time.perf_counter()
    done = subprocess.run(
        [*launch, "-m", "latentdd", *args, "--quiet"], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{kind} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds


def dm(out: Path, data_dir: str, iterations: int, compile_mode: str) -> dict:
    """MNIST IPC 10, ConvNet-3 width 128, 256 real images per class, DSA (the DM speed protocol).
    Compiled, the first iteration pays for compilation (about a minute); eager is the steady state."""
    result = {
        "workload": f"DM distill, MNIST IPC 10, 256 real/class, DSA, {iterations} iterations, compile {compile_mode}"
    }
    for kind in ("1x2", "2x1"):
        folder = out / f"dm-{compile_mode}-{kind}"
        shutil.rmtree(folder, ignore_errors=True)
        args = ["distill", "--dataset", "mnist", "--data-dir", data_dir, "--method", "dm", "--ipc", "10"]
        args += ["--iterations", str(iterations), "--batch-real", "256", "--out", str(folder), "--no-eval"]
        args += ["--compile", compile_mode]
        wall = run(kind, args)
        stats = json.loads((folder / "distill.json").read_text())
        result[kind] = {
            "wall_s": round(wall, 1),
            "s_per_iteration": round(stats["seconds_per_iteration"], 3),
            "steady_s_per_iteration": stats.get("steady_seconds_per_iteration"),  # median after the first
        }
    return result


def evaluation(out: Path, epochs: int) -> dict:
    """Two ConvNets (seeds 0, 1) trained on the DM set above: sequential on 2 threads or one per rank."""
    result = {"workload": f"evaluate 2 ConvNet-3 x {epochs} epochs on the MNIST IPC 10 set, DSA"}
    for kind in ("1x2", "2x1"):
        args = [
            "evaluate",
            str(out / "dm-off-1x2"),
            "--models",
            "convnet",
            "--runs",
            "2",
            "--epochs",
            str(epochs),
        ]
        args += ["--protocol", "cpu-small", "--no-baseline", "--fresh"]
        wall = run(kind, args)
        result[kind] = {"wall_s": round(wall, 1), "networks_per_hour": round(2 * 3600 / wall, 1)}
    return result


def experts(out: Path, epochs: int) -> dict:
    """Two experts (MTT's buffer.py settings) on the embedded 5,000-image Fashion-MNIST set: sequential
    on 2 threads or one per rank.  (On full MNIST one epoch of one expert takes over 6 minutes here.)"""
    result = {"workload": f"experts: 2 ConvNet-3 experts x {epochs} epochs on the embedded 5,000 images"}
    for kind in ("1x2", "2x1"):
        folder = out / f"experts-{kind}"
        shutil.rmtree(folder, ignore_errors=True)
        args = ["experts", "--dataset", "embedded", "--num-experts", "2"]
        args += ["--epochs", str(epochs), "--out", str(folder), "--device", "cpu"]
        wall = run(kind, args)
        result[kind] = {
            "wall_s": round(wall, 1),
            "expert_epochs_per_hour": round(2 * epochs * 3600 / wall, 1),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/out/throughput"))
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--eval-epochs", type=int, default=100)
    parser.add_argument("--expert-epochs", type=int, default=5)
    parser.add_argument("--workloads", nargs="+", default=["dm", "dm-compiled", "evaluate", "experts"])
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    workloads = {
        "dm": lambda: dm(args.out, args.data_dir, args.iterations, "off"),
        "dm-compiled": lambda: dm(args.out, args.data_dir, args.iterations, "on"),
        "evaluate": lambda: evaluation(args.out, args.eval_epochs),
        "experts": lambda: experts(args.out, args.expert_epochs),
    }
    rows = []
    for name in args.workloads:
        rows.append(workloads[name]())
        print(json.dumps(rows[-1]), flush=True)
    for row in rows:
        row["speedup_2x1"] = round(row["1x2"]["wall_s"] / row["2x1"]["wall_s"], 2)
    if args.json:  # rows of other workloads already in the file are kept
        kept = json.loads(args.json.read_text())["rows"] if args.json.exists() else []
        kept = [row for row in kept if row["workload"] not in {r["workload"] for r in rows}]
        args.json.write_text(
            json.dumps({"date": time.strftime("%Y-%m-%d"), "rows": kept + rows}, indent=1) + "\n"
        )
    for row in rows:
        print(
            f"{row['workload']}: 1x2 {row['1x2']['wall_s']} s, 2x1 {row['2x1']['wall_s']} s, x{row['speedup_2x1']}"
        )


if __name__ == "__main__":
    main()
