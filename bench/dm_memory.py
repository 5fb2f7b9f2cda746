"""Peak resident memory of DM at IPC 1 with 256 real images per class, at 32, 64 and 128 px.

Each resolution runs in its own process (peak RSS is per process): Imagenette (the 64 px folder of
``../shared/datasets``, resized to the resolution asked for), 10 classes, ConvNet of the resolution's
depth (3/4/5), width 128, DSA, ``--iterations`` DM iterations in pixel space.  Real images are
embedded in bounded chunks (``latentdd.objectives.dm.REAL_CHUNK_PIXELS``), so memory must not grow
with classes x real batch.

    python bench/dm_memory.py --sizes 32 64 128 --iterations 3 --out bench/results/dm_memory.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time, torch
from latentdd import api
from latentdd.config import build_config
size, iterations, out, data = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
cfg = build_config({"dataset": "folder:" + data, "image_size": size, "ipc": 1, "batch_real": 256,
                    "iterations": iterations, "method": "dm", "space": "pixel", "device": "cpu", "compile": "off",
                    "checkpoint_every": 0, "out": out, "eval_models": [], "seed": 0})
t = time.perf_counter()
api.distill(cfg, progress=False)
stats = json.load(open(out + "/distill.json"))
print(json.dumps({"size": size, "seconds_per_iteration": stats["distill_seconds"] / iterations,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=int, default=[32, 64, 128])
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared/datasets/imagenette64")
    )
    ap.add_argument("--out", default="bench/results/dm_memory.json")
    args = ap.parse_args()
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            run = subprocess.run(
                [sys.executable, "-c", CHILD, str(size), str(args.iterations), f"{tmp}/run", args.data],
                capture_output=True,
                text=True,
                check=True,
            )
        row = json.loads(run.stdout.strip().splitlines()[-1])
        print(row, flush=True)
        rows.append(row)
    Path(args.out).write_text(
        json.dumps(
            {"date": time.strftime("%Y-%m-%d"), "protocol": __doc__.splitlines()[0], "rows": rows}, indent=2
        )
    )


if __name__ == "__main__":
    main()
