"""``latentdd demo``: the whole pipeline on the embedded dataset, offline, in minutes.

1. train the demo prior -- a KL autoencoder, the prior that won on validation (BENCHMARKS.md, issue 15)
   -- on the embedded Fashion-MNIST subset (cached after the first run),
2. distill with DM at IPC 1 and IPC 10, in pixel space and in the prior's latent space (latents start
   from encoded real images, as pixel sets start from real images),
3. evaluate every set on three architectures beside a random real subset, long enough for LeNet and
   the MLP to converge,
4. print the side-by-side tables; the grids are in each run folder.

The budgets are cut to fit a laptop CPU (see ``DEMO_*``); use ``latentdd distill`` with
``--preset cpu-small`` or the published settings for real measurements.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import api
from .config import build_config
from .paths import user_cache_dir
from .runs import RunDir

DEMO_PRIOR_ARCH = "ae"
DEMO_PRIOR_STEPS = 300
DEMO_IPCS = (1, 10)
DEMO_ITERATIONS = 100
#: evaluation epochs per IPC: at IPC 1 an epoch is one SGD step of 10 images, so 300 epochs cost little;
#: at IPC 10 (100 images, one step per epoch too) the ConvNet dominates the demo's time
DEMO_EVAL_EPOCHS = {1: 300, 10: 150}
DEMO_SETTINGS: dict[str, Any] = {
    "dataset": "embedded",
    "method": "dm",
    "iterations": DEMO_ITERATIONS,
    "batch_real": 32,
    "preset": "cpu-small",
    "eval_protocol": "quick",
    # the autoencoder's layer 1 (after its mid block) at lr_feat 1: the best latent variant on MNIST's
    # validation split at IPC 1 (bench/results/validate_mnist_ipc1.json), and the only one above pixels
    "layer": 1,
    "lr_feat": 1.0,
    "checkpoint_every": 50,
    "compile": "off",  # compiling costs about a minute: more than it saves on a run this short
}


def cache_dir() -> Path:
    return user_cache_dir()


def demo_prior(device: str, progress: bool) -> Path:
    """The cached demo prior, trained on first use."""
    size = DEMO_SETTINGS.get("image_size")
    name = f"embedded-{DEMO_PRIOR_ARCH}-{DEMO_PRIOR_STEPS}steps-{size or 'native'}px.safetensors"
    path = cache_dir() / "priors" / name
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
            arch=DEMO_PRIOR_ARCH,
            score=False,  # scores train an embedding network: minutes the demo does not need
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
    sections = []
    for ipc in DEMO_IPCS:
        results: dict[str, dict[str, Any]] = {}
        for space in ("pixel", "latent"):
            run_dir = out / f"dm-{space}-ipc{ipc}"
            settings = {
                "eval_epochs": DEMO_EVAL_EPOCHS.get(ipc, 150),
                **DEMO_SETTINGS,
                "ipc": ipc,
                "space": space,
                "out": str(run_dir),
                "device": device,
            }
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
        grids = "\n".join(f"  {out / f'dm-{s}-ipc{ipc}' / RunDir.GRID}" for s in results)
        sections.append(
            f"DM, IPC {ipc}, embedded Fashion-MNIST subset; test accuracy % ({results['pixel']['protocol']} "
            f"protocol, {results['pixel']['epochs']} epochs, {len(results['pixel']['seeds'])} run(s))\n"
            f"{side_by_side(results)}\n\nimage grids:\n{grids}"
        )
    return "\n\n".join(sections)
