"""DM seconds per iteration: the published ``main_DM.py`` itself against ``latentdd distill``.

Same data and settings both ways: MNIST (from ``--data-dir``, written out as torchvision's raw
MNIST files for the published script), IPC 10, ConvNet-3 width 128, 256 real images per class,
DSA ``color_crop_cutout_flip_scale_rotate``, initialized from real images, lr 1.0, momentum 0.5.

* ``published``: VICO-UoE/DatasetCondensation ``main_DM.py`` run as a script (``runpy``) from a
  checkout or bare mirror given by ``--reference``.  Two things are patched, neither inside the
  iteration: ``evaluate_synset`` returns at once (the script evaluates at iteration 0 and at the
  end, 1000 epochs per network), and ``get_time`` prints a sub-second clock, so the script's own
  ``iter = ...`` lines (every 10 iterations) time it.  As in ``bench/eval_speed.py`` the flatten
  ``view`` becomes ``reshape`` (DiffAugment's crop hands the network channels-last tensors,
  which current PyTorch keeps through the convolutions).  Seconds per iteration are taken over
  iterations 10..N-1 (the first ten include start-up).
* ``eager`` / ``compiled``: ``latentdd distill --method dm --compile off|on`` for N iterations;
  ``steady_seconds_per_iteration`` from ``distill.json`` (the median iteration after the first).

    python bench/dm_published.py --reference /path/to/DatasetCondensation [--iterations 31]
        [--rounds 2] [--json bench/results/dm_published.json]

Rounds alternate published, eager, compiled, so load that comes and goes hits all three.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from published_reference import export_reference

from latentdd.fileio import atomic_write_json

RUNNER = """
import sys, time, runpy
sys.path.insert(0, {folder!r})
import utils
utils.evaluate_synset = lambda it_eval, net, images, labels, testloader, args: (net, 0.0, 0.0)
utils.get_time = lambda: "T=%.4f" % time.perf_counter()
sys.argv = ["main_DM.py"] + {argv!r}
runpy.run_path({script!r}, run_name="__main__")
"""


def write_torchvision_mnist(data_dir: Path, root: Path) -> None:
    """``root/MNIST/raw/*-ubyte``: the npz copy in torchvision's raw format (so it reads it offline)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        with np.load(data_dir / "mnist" / f"{split}.npz") as f:
            x, y = f["x"].astype(np.uint8), f["y"].astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            np.array([2051, len(x), 28, 28], dtype=">i4").tobytes() + x.tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            np.array([2049, len(y)], dtype=">i4").tobytes() + y.tobytes()
        )


def time_published(folder: Path, data_root: Path, iterations: int) -> float:
    argv = ["--dataset", "MNIST", "--model", "ConvNet", "--ipc", "10", "--num_exp", "1", "--num_eval", "1"]
    argv += ["--Iteration", str(iterations), "--batch_real", "256", "--init", "real"]
    argv += ["--data_path", str(data_root), "--save_path", str(folder / "result")]
    (folder / "result").mkdir(exist_ok=True)
    code = RUNNER.format(folder=str(folder), argv=argv, script=str(folder / "main_DM.py"))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    marks = {int(m[1]): float(m[0]) for m in re.findall(r"T=([\d.]+) iter = (\d+)", done.stdout)}
    first, last = 10, max(marks)
    return (marks[last] - marks[first]) / (last - first)


def time_latentdd(out: Path, data_dir: Path, iterations: int, compile_mode: str) -> float:
    folder = out / f"latentdd-{compile_mode}"
    args = ["distill", "--dataset", "mnist", "--data-dir", str(data_dir), "--method", "dm", "--ipc", "10"]
    args += ["--iterations", str(iterations), "--batch-real", "256", "--out", str(folder), "--no-eval"]
    args += ["--compile", compile_mode, "--device", "cpu", "--init", "real", "--quiet"]
    shutil.rmtree(folder, ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "latentdd", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return float(json.loads((folder / "distill.json").read_text())["steady_seconds_per_iteration"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--reference", type=Path, required=True, help="DatasetCondensation checkout or bare mirror"
    )
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    ap.add_argument("--iterations", type=int, default=31)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, help="Also append the figures to this JSON list.")
    args = ap.parse_args()
    if args.iterations < 21:
        ap.error(
            "--iterations must be at least 21: the published script prints its clock every 10 iterations"
        )
    work = export_reference(args.reference, ("utils.py", "networks.py", "main_DM.py"))
    write_torchvision_mnist(args.data_dir.resolve(), work / "data")
    times: dict[str, list[float]] = {"published": [], "eager": [], "compiled": []}
    for round_ in range(args.rounds):
        times["published"].append(time_published(work, work / "data", args.iterations))
        times["eager"].append(time_latentdd(work, args.data_dir, args.iterations, "off"))
        times["compiled"].append(time_latentdd(work, args.data_dir, args.iterations, "on"))
        print(
            f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s/it" for k, v in times.items()), flush=True
        )
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "setting": "MNIST IPC 10, ConvNet-3 w128, 256 real/class, DSA, init real",
        "published_how": "main_DM.py run as a script; evaluate_synset stubbed, sub-second get_time",
        "seconds_per_iteration": times,
        "median": median,
        "eager_speedup": median["published"] / median["eager"],
        "compiled_speedup": median["published"] / median["compiled"],
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        rows = json.loads(args.json.read_text()) if args.json.is_file() else []
        atomic_write_json(args.json, [*rows, result])


if __name__ == "__main__":
    main()
