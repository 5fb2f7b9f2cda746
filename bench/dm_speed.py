"""PROTOCOL.md "Speed": seconds per DM iteration and the ratio to the work it cannot avoid.

Setting: IPC 10, ConvNet-3 width 128 (instance norm), 256 real images per class, DSA on.
Shapes: CIFAR-10 (3x32x32) as the protocol says, and MNIST (1x28x28) for comparison with
the published DM code (4.0 s/iteration on this machine kind).  Pixel content does not
change the cost, so the data are random tensors of the right shape.

    python bench/dm_speed.py [--repeats 20] [--warmup 3] [--out bench/results/dm_speed.json]

bare work = one forward pass of the real images (no grad) + one forward and backward pass
of the synthetic images, through the same network -- what any DM iteration must do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from latentdd.augment import make_dsa
from latentdd.compile import compiled_embed, eager_embed
from latentdd.config import DistillConfig
from latentdd.data.dataset import ImageDataset
from latentdd.engine.steps import distill_step
from latentdd.nets import create_model
from latentdd.objectives import OBJECTIVES, ObjectiveContext, RealSampler
from latentdd.priors import make_random_prior
from latentdd.seeding import make_generator
from latentdd.synth.latent import LatentSet
from latentdd.synth.pixel import PixelSet


def interleaved_medians(fns: dict[str, Callable[[], None]], repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds of each function, calling them in turn (a, b, c, a, b, c, ...).

    Interleaving makes a ratio of two medians robust to load that comes and goes on a shared
    machine: every function sees the same spells of contention."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_shape(channels: int, size: int, args, embed) -> dict:
    classes, ipc, n_real = 10, 10, 256
    g = make_generator(0)
    train = ImageDataset(
        torch.randn(classes * n_real, channels, size, size, generator=g),
        torch.arange(classes).repeat_interleave(n_real),
        [str(c) for c in range(classes)],
        (0.5,) * channels,
        (0.25,) * channels,
    )
    cfg = DistillConfig(batch_real=n_real, ipc=ipc)
    device = torch.device("cpu")
    ctx = ObjectiveContext(
        cfg,
        classes,
        channels,
        (size, size),
        device,
        make_dsa(digits=False),
        lambda: create_model("convnet", channels, classes, size),
        embed=embed,
    )
    objective = OBJECTIVES.get("dm")(ctx)
    sampler = RealSampler(train, device)
    labels = torch.arange(classes).repeat_interleave(ipc)
    result = {"shape": [channels, size, size]}

    sets = {
        "pixel": PixelSet(torch.randn(classes * ipc, channels, size, size, generator=g), labels, classes),
        "latent": LatentSet(
            make_random_prior(classes, channels, size, seed=0), 1, labels, classes, train.mean, train.std, g
        ),
    }
    timed: dict[str, Callable[[], None]] = {}
    for space, synset in sets.items():
        opt = torch.optim.SGD(synset.param_groups(cfg), lr=1.0, momentum=0.5)
        timed[f"{space}_seconds_per_iteration"] = lambda s=synset, o=opt: distill_step(
            s, objective, sampler, o, g
        )

    net = ctx.fresh_model(g).requires_grad_(False)
    real = train.images
    syn = sets["pixel"].decode()

    def bare() -> None:
        with torch.no_grad():
            embed(net, real)
        x = syn.clone().requires_grad_(True)
        embed(net, x).sum().backward()

    timed["bare_seconds"] = bare

    # The published DM loop (VICO-UoE/DatasetCondensation, main_DM.py), re-written here so it
    # runs in the same process on the same data: one small forward pass per class for the real
    # images and one for the synthetic ones, DSA called per class, then one backward.
    ref_syn = sets["pixel"].images.detach().clone().requires_grad_(True)
    ref_opt = torch.optim.SGD([ref_syn], lr=1.0, momentum=0.5)
    by_class = train.indices_by_class()

    def reference() -> None:
        model = create_model("convnet", channels, classes, size).train().requires_grad_(False)
        loss = torch.zeros(())
        for c in range(classes):
            idx = by_class[c][torch.randperm(len(by_class[c]), generator=g)[:n_real]]
            params = ctx.dsa.sample(1, g)
            img_real = ctx.dsa.apply(train.images[idx], params, groups=torch.zeros(n_real, dtype=torch.long))
            img_syn = ctx.dsa.apply(
                ref_syn[c * ipc : (c + 1) * ipc], params, groups=torch.zeros(ipc, dtype=torch.long)
            )
            out_real = model.embed(img_real).detach()
            out_syn = model.embed(img_syn)
            loss = loss + ((out_real.mean(0) - out_syn.mean(0)) ** 2).sum()
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()

    timed["reference_loop_seconds_per_iteration"] = reference
    result.update(interleaved_medians(timed, args.repeats, args.warmup))
    result["speedup_over_reference_loop"] = (
        result["reference_loop_seconds_per_iteration"] / result["pixel_seconds_per_iteration"]
    )
    result["overhead_ratio"] = result["pixel_seconds_per_iteration"] / result["bare_seconds"]
    result["latent_over_pixel"] = (
        result["latent_seconds_per_iteration"] / result["pixel_seconds_per_iteration"]
    )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", default="bench/results/dm_speed.json")
    ap.add_argument("--shapes", default="cifar10,mnist", help="cifar10 (3x32x32) and/or mnist (1x28x28)")
    ap.add_argument("--modes", default="eager,compiled", help="embedding pass: eager and/or torch.compile")
    args = ap.parse_args()
    shapes = {"cifar10": (3, 32), "mnist": (1, 28)}
    modes = {"eager": eager_embed, "compiled": compiled_embed}
    report = {
        "protocol": "PROTOCOL.md Speed / DM iteration",
        "date": time.strftime("%Y-%m-%d"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "load_average_before": list(os.getloadavg()),
    }
    for mode in args.modes.split(","):
        for shape in args.shapes.split(","):
            embed = modes[mode]() if mode == "compiled" else modes[mode]
            report[f"{shape}_shape_{mode}"] = bench_shape(*shapes[shape], args, embed)
            print(mode, shape, report[f"{shape}_shape_{mode}"], flush=True)
    report["load_average_after"] = list(os.getloadavg())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
