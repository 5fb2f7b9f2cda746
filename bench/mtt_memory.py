"""PROTOCOL.md "Speed/Memory": peak memory of one MTT iteration as ``syn_steps`` grows.

Setting: ConvNet-3 width 128 (instance norm), 10 classes x IPC 10 synthetic 3x32x32
images (CIFAR-10 shape), every step on all 100 images (MTT's default ``batch_syn``),
DSA on.  Two gradient computations are compared:

* ``constant`` -- :func:`latentdd.objectives.mtt.match_gradient` (what ``--method mtt``
  runs): memory flat in the steps except one parameter vector (1.3 MB) per step;
* ``unrolled`` -- :func:`latentdd.objectives.mtt.match_unrolled` + ``autograd.grad``
  (the reference's approach): the whole unrolled graph in memory.

Each (mode, steps) runs in its own fresh process, because peak RSS (``ru_maxrss``) is a
per-process high-water mark.  A process warms up with a 1-step iteration, records its
RSS, then times ``--iters`` iterations; ``growth_mb`` = peak RSS - RSS before the
measured iterations.  Pixel content does not change the cost, so images and expert
parameters are random.  ``unrolled`` runs are skipped when a linear fit of the smaller
ones predicts more than ``--unrolled-limit-gb`` (the machine is shared).

``time_ratio``: both modes alternated in one process at ``--ratio-steps`` steps, the
median of constant/unrolled seconds (the per-mode timings above come from separate
processes at different moments of a shared machine, so compare only this ratio).

    python bench/mtt_memory.py [--steps 10 20 40 80] [--device cpu|cuda] [--out FILE]
    python bench/mtt_memory.py --ratio-only    # add/refresh only the time ratio in --out
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import torch

from latentdd.augment import make_dsa
from latentdd.nets import create_model
from latentdd.objectives.mtt import ParamLayout, UnrollPlan, make_step_loss, match_gradient, match_unrolled
from latentdd.seeding import make_generator

OUT = Path(__file__).parent / "results" / "mtt_memory.json"


def worker(mode: str, steps: int, iters: int, width: int, device_name: str) -> dict:
    device = torch.device(device_name)
    classes, ipc, size = 10, 10, 32
    net = create_model("convnet", 3, classes, size, width=width, seed=0).to(device)
    layout = ParamLayout.of(net)
    step_loss = make_step_loss(net, layout, make_dsa())
    theta0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    g = make_generator(1)
    target = theta0 + 0.01 * torch.randn(theta0.shape, generator=g).to(device)
    images = torch.randn(classes * ipc, 3, size, size, generator=g).to(device)
    labels = torch.arange(classes, device=device).repeat_interleave(ipc)

    def iteration(n: int) -> None:
        plan = UnrollPlan.draw(images.shape[0], n, images.shape[0], g).to(device)
        if mode == "constant":
            match_gradient(step_loss, theta0, target, images, labels, plan, 0.01)
        else:
            x = images.clone().requires_grad_(True)
            lr = torch.tensor(0.01, device=device, requires_grad=True)
            loss = match_unrolled(step_loss, theta0, target, x, labels, plan, lr)
            torch.autograd.grad(loss, (x, lr))
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    iteration(1)  # warm-up: kernels, allocator pools
    base_rss = psutil.Process().memory_info().rss / 2**20
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base_cuda = torch.cuda.memory_allocated(device) / 2**20
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        iteration(steps)
        times.append(time.perf_counter() - t)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    out = {
        "mode": mode,
        "syn_steps": steps,
        "iters": iters,
        "seconds_per_iteration": statistics.median(times),
        "baseline_rss_mb": round(base_rss, 1),
        "peak_rss_mb": round(peak_rss, 1),
        "growth_mb": round(peak_rss - base_rss, 1),
        "params": theta0.numel(),
    }
    if device.type == "cuda":
        peak_cuda = torch.cuda.max_memory_allocated(device) / 2**20
        out.update(peak_cuda_mb=round(peak_cuda, 1), cuda_growth_mb=round(peak_cuda - base_cuda, 1))
    return out


def time_ratio(steps: int, repeats: int, width: int, device_name: str) -> dict:
    """Seconds per iteration of both modes, alternated in one process (shared machines drift,
    so only a ratio measured side by side means something)."""
    device = torch.device(device_name)
    net = create_model("convnet", 3, 10, 32, width=width, seed=0).to(device)
    step_loss = make_step_loss(net, ParamLayout.of(net), make_dsa())
    theta0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    g = make_generator(2)
    target = theta0 + 0.01 * torch.randn(theta0.shape, generator=g).to(device)
    images = torch.randn(100, 3, 32, 32, generator=g).to(device)
    labels = torch.arange(10, device=device).repeat_interleave(10)
    plan = UnrollPlan.draw(100, steps, 100, g).to(device)
    times: dict[str, list[float]] = {"constant": [], "unrolled": []}
    for _ in range(repeats):
        t = time.perf_counter()
        match_gradient(step_loss, theta0, target, images, labels, plan, 0.01)
        times["constant"].append(time.perf_counter() - t)
        t = time.perf_counter()
        x = images.clone().requires_grad_(True)
        lr = torch.tensor(0.01, device=device, requires_grad=True)
        torch.autograd.grad(match_unrolled(step_loss, theta0, target, x, labels, plan, lr), (x, lr))
        times["unrolled"].append(time.perf_counter() - t)
    ratios = [c / u for c, u in zip(times["constant"], times["unrolled"], strict=True)]
    return {
        "syn_steps": steps,
        "repeats": repeats,
        "seconds": times,
        "constant_over_unrolled_median": round(statistics.median(ratios), 3),
    }


def run_one(mode: str, steps: int, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--steps",
        str(steps),
        "--iters",
        str(args.iters),
        "--width",
        str(args.width),
        "--device",
        args.device,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, nargs="+", default=[10, 20, 40, 80])
    p.add_argument("--modes", nargs="+", default=["constant", "unrolled"])
    p.add_argument("--iters", type=int, default=1)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--device", default="cpu")
    p.add_argument("--unrolled-limit-gb", type=float, default=6.0)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--ratio-steps", type=int, default=5)
    p.add_argument("--ratio-repeats", type=int, default=3)
    p.add_argument("--ratio-only", action="store_true", help="measure only the time ratio; add it to --out")
    p.add_argument("--worker", choices=["constant", "unrolled"])
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps[0], args.iters, args.width, args.device)))
        return
    if args.ratio_only:
        report = json.loads(args.out.read_text())
        report["time_ratio"] = time_ratio(args.ratio_steps, args.ratio_repeats, args.width, args.device)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report["time_ratio"]))
        return

    results = []
    for mode in args.modes:
        done: list[dict] = []
        for steps in sorted(args.steps):
            if mode == "unrolled" and len(done) >= 2:
                (a, b) = done[-2:]
                slope = (b["growth_mb"] - a["growth_mb"]) / (b["syn_steps"] - a["syn_steps"])
                predicted = b["growth_mb"] + slope * (steps - b["syn_steps"])
                if predicted > args.unrolled_limit_gb * 1024:
                    results.append(
                        {
                            "mode": mode,
                            "syn_steps": steps,
                            "skipped": f"predicted growth {predicted / 1024:.1f} GB > --unrolled-limit-gb",
                        }
                    )
                    print(json.dumps(results[-1]), flush=True)
                    continue
            r = run_one(mode, steps, args)
            done.append(r)
            results.append(r)
            print(json.dumps(r), flush=True)
    report = {
        "benchmark": "mtt_memory",
        "protocol": "PROTOCOL.md Speed/Memory",
        "setting": {
            "model": "convnet",
            "depth": 3,
            "width": args.width,
            "norm": "instancenorm",
            "images": "10 classes x IPC 10, 3x32x32",
            "batch_syn": "all (100)",
            "dsa": True,
        },
        "device": args.device,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": psutil.cpu_count(),
        "load_average_at_end": list(psutil.getloadavg()),
        "results": results,
        "time_ratio": time_ratio(args.ratio_steps, args.ratio_repeats, args.width, args.device),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
