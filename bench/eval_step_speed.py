"""Seconds per evaluation training step (forward + backward + SGD on 100 images, with DSA)
for each architecture of the ``cpu-small`` protocol: what an evaluation costs before it runs.

    python bench/eval_step_speed.py --shape cifar10 --models resnet18,vgg11,alexnet,vit,convnet \
        --modes eager,channels_last,compiled

A ``cpu-small`` run is 300 such steps (IPC 10: 100 images, batch 256 -> one step per epoch)
plus one pass over the test set.  Prints one line per (model, mode) and writes
``bench/results/eval_step_speed-<shape>-t<threads>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from latentdd.augment import make_dsa
from latentdd.memory_format import model_channels_last, to_channels_last
from latentdd.nets import create_model
from latentdd.seeding import make_generator

SHAPES = {"mnist": (1, 28), "cifar10": (3, 32)}


def time_steps(name: str, mode: str, channels: int, size: int, repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    x = torch.randn(100, channels, size, size)
    y = torch.arange(100) % 10
    dsa = make_dsa("color_crop_cutout_flip_scale_rotate", digits=channels == 1)
    net = create_model(name, channels, 10, (size, size))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    layout = to_channels_last if mode != "eager" else (lambda t: t)
    if mode != "eager":
        model_channels_last(net)
    forward = torch.compile(net) if mode == "compiled" else net
    gen = make_generator(0)

    def step() -> None:
        loss = F.cross_entropy(forward(layout(dsa(x, gen))), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    start = time.perf_counter()
    step()  # first step: compilation, allocator warm-up
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return {"first_step_s": first, "step_s": (time.perf_counter() - start) / repeats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="cifar10")
    ap.add_argument("--models", default="resnet18,vgg11,alexnet,vit,convnet")
    ap.add_argument("--modes", default="eager,channels_last")
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: all cores)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    channels, size = SHAPES[args.shape]
    rows = []
    for name in args.models.split(","):
        for mode in args.modes.split(","):
            r = {
                "model": name,
                "mode": mode,
                "shape": args.shape,
                "threads": torch.get_num_threads(),
                **time_steps(name, mode, channels, size, args.repeats),
            }
            rows.append(r)
            print(
                f"{name:9s} {mode:14s} first {r['first_step_s']:6.1f} s  step {r['step_s']:6.3f} s "
                f"-> 300 epochs {300 * r['step_s'] / 60:5.1f} min",
                flush=True,
            )
    out = Path(f"bench/results/eval_step_speed-{args.shape}-t{torch.get_num_threads()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
