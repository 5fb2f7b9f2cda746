"""How fast one MTT expert trains: images per second of ``train_epoch`` (ConvNet-3 w128, batch 256, DSA,
as ``latentdd experts`` trains) on each ``--fast`` path, taking turns so background load hits every path
alike; median of the turns.  CIFAR-10 experts are the longest single job of issue 16's grid (5 x 15 epochs
of 50,000 images), so this decides whether they train compiled.

    python bench/expert_speed.py --shape cifar10 --batches 8 --turns 3 --paths plain,compiled,channels_last
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from latentdd.augment import DEFAULT_STRATEGY, make_dsa
from latentdd.evaluate.speed import CHANNELS_LAST, COMPILED, PLAIN, prepare
from latentdd.fileio import atomic_write_json
from latentdd.nets.fit import train_epoch
from latentdd.nets.registry import create_model
from latentdd.seeding import make_generator

SHAPES = {"cifar10": (3, 32), "mnist": (1, 28)}
PATHS = {"plain": PLAIN, "compiled": COMPILED, "channels_last": CHANNELS_LAST}


def images_per_second(path: str, shape: str, batches: int, batch: int) -> float:
    channels, size = SHAPES[shape]
    g = make_generator(0)
    x = torch.randn(batches * batch, channels, size, size, generator=g)
    y = torch.randint(0, 10, (batches * batch,), generator=g)
    net = create_model("convnet", channels, 10, size, seed=0)
    forward = prepare(net, PATHS[path])
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    dsa = make_dsa(DEFAULT_STRATEGY, digits=shape == "mnist")
    train_epoch(net, optimizer, x[:batch], y[:batch], batch, g, dsa, g, forward=forward)  # warm-up / compile
    started = time.perf_counter()
    train_epoch(net, optimizer, x, y, batch, g, dsa, g, forward=forward)
    return x.shape[0] / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=list(SHAPES), default="cifar10")
    ap.add_argument("--batches", type=int, default=8, help="timed batches per turn")
    ap.add_argument("--batch", type=int, default=256, help="MTT's buffer.py batch size")
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--paths", default="plain,compiled,channels_last")
    ap.add_argument("--out", default=None, help="a JSON file for the rows")
    args = ap.parse_args()
    paths = args.paths.split(",")
    speeds: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(args.turns):
        for path in paths:
            speeds[path].append(images_per_second(path, args.shape, args.batches, args.batch))
    rows = {
        p: {"images_per_s": round(statistics.median(v), 1), "turns": [round(s, 1) for s in v]}
        for p, v in speeds.items()
    }
    base = rows[paths[0]]["images_per_s"]
    for p, r in rows.items():
        print(f"{p:14s} {r['images_per_s']:8.1f} img/s  x{r['images_per_s'] / base:.2f}  turns {r['turns']}")
    if args.out:
        meta = {
            "shape": args.shape,
            "batch": args.batch,
            "batches": args.batches,
            "threads": torch.get_num_threads(),
        }
        atomic_write_json(args.out, {**meta, "rows": rows})


if __name__ == "__main__":
    main()
