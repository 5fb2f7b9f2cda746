"""``latentdd demo``: the whole pipeline on the embedded dataset, offline, in minutes.

1. train the built-in prior on the embedded Fashion-MNIST subset (cached after the first run),
2. distill with DM at IPC 10 in pixel space and in the prior's latent space,
3. evaluate both on three architectures beside a random real subset,
4. print the side-by-side table; the grids are in each run folder.

The budgets are cut to fit a laptop CPU (see ``DEMO_*``); use ``latentdd distill`` with
``--preset cpu-small`` or the published settings for real measurements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import api
from .config import build_config
from .engine import RunDir
from .paths import user_cache_dir

DEMO_PRIOR_STEPS = 300
DEMO_ITERATIONS = 150
DEMO_SETTINGS: dict[str, Any] = {
    "dataset": "embedded",
    "method": "dm",
    "ipc": 10,
    "iterations": DEMO_ITERATIONS,
    "batch_real": 32,
    "preset": "cpu-small",
    "eval_protocol": "quick",
    "eval_epochs": 50,
    "layer": 1,
    "checkpoint_every": 50,
    "compile": "off",  # compiling costs about a minute: more than it saves on a run this short
}


def cache_dir() -> Path:
    return user_cache_dir()


def demo_prior(device: str, progress: bool) -> Path:
    """The cached demo prior, trained on first use."""
    size = DEMO_SETTINGS.get("image_size")
    path = cache_dir() / "priors" / f"embedded-cgen-{DEMO_PRIOR_STEPS}steps-{size or 'native'}px.safetensors"
    if not path.is_file():
        print(f"training the demo prior (once; cached at {path}) ...")
        api.train_prior(
            "embedded",
            path,
            steps=DEMO_PRIOR_STEPS,
            seed=0,
            device=device,
            image_size=size,
            license_text="MIT (trained on Fashion-MNIST, MIT-licensed)",
            progress=progress,
        )
    return path


def side_by_side(results: dict[str, dict[str, Any]]) -> str:
    """One row per architecture: random real subset, then each space; mean ± std in percent."""
    first = next(iter(results.values()))
    models = list(first["accuracy"])
    cols = ["random real"] + list(results)
    lines = [f"{'architecture':<14}" + "".join(f"{c:>16}" for c in cols)]

    def cell(block: dict[str, Any] | None, m: str) -> str:
        if not block or m not in block:
            return f"{'-':>16}"
        return f"{block[m]['mean']:>9.1f} ± {block[m]['std']:<4.1f}"

    for m in models:
        row = f"{m:<14}" + cell(first.get("baseline_random_real"), m)
        row += "".join(cell(r["accuracy"], m) for r in results.values())
        lines.append(row)
    xs = "".join(f"{(r.get('cross_arch_mean') or float('nan')):>16.1f}" for r in results.values())
    lines.append(f"{'cross-arch':<14}{'':>16}" + xs)
    return "\n".join(lines)


def run_demo(out: str | Path, *, device: str = "auto", progress: bool = True) -> str:
    out = Path(out)
    prior = demo_prior(device, progress)
    results: dict[str, dict[str, Any]] = {}
    for space in ("pixel", "latent"):
        run_dir = out / f"dm-{space}"
        settings = {**DEMO_SETTINGS, "space": space, "out": str(run_dir), "device": device}
        if space == "latent":  # the random-real baseline is the same for both spaces: measure it once
            settings.update(prior=str(prior), eval_baseline=False)
        if run_dir.joinpath(RunDir.CONFIG).is_file():
            api.resume(run_dir, progress=progress)
        else:
            api.distill(build_config(settings), progress=progress)
        metrics_file = run_dir / RunDir.METRICS
        results[space] = (
            RunDir(run_dir).read_json(RunDir.METRICS)
            if metrics_file.is_file()
            else api.evaluate(run_dir, progress=progress)
        )
    table = side_by_side(results)
    grids = "\n".join(f"  {out / f'dm-{s}' / RunDir.GRID}" for s in results)
    return (
        f"DM, IPC 10, embedded Fashion-MNIST subset; test accuracy % ({results['pixel']['protocol']} "
        f"protocol, {len(results['pixel']['seeds'])} run(s))\n{table}\n\nimage grids:\n{grids}"
    )
