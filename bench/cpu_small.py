"""The ``cpu-small`` tables of PROTOCOL.md: objective x space x IPC per dataset, resumable.

For each dataset: train the built-in prior once (``latentdd prior train``), then for each
(method, space, IPC) distill with the ``cpu-small`` preset and evaluate under the
``cpu-small`` evaluation protocol (or the overrides given here, which are recorded in the
results).  Every step resumes: a killed sweep picks up at the last checkpoint / the
first run without ``metrics.json``.

    python bench/cpu_small.py --datasets mnist cifar10 --methods dm dc dsa mtt --spaces pixel latent \
        --ipcs 1 10 [--models convnet,alexnet,vgg11,resnet18,vit] [--runs 3] [--epochs 300]

MTT first fills ``bench/out/<dataset>/experts`` (``cpu-small``: 5 experts, each trained for exactly the
epochs the sweep's IPCs read -- 3 for CIFAR-10 IPC 1, 15 with IPC 10; resumable,
and ``latentdd experts`` may fill it from other processes at the same time).

Results: ``bench/out/<dataset>/<method>-<space>-ipc<N>/`` (run folders) and
``bench/results/cpu_small_<dataset>.json`` / ``.md``.

Workers: start this script several times (one single-thread process per core, e.g.
``OMP_NUM_THREADS=1``; ``bench/cpu_small_dm.sh`` starts two).  They share the sweep: each
distillation and each network is claimed by one worker, and a worker whose next piece is held by
another moves on and comes back to it at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from filelock import FileLock, Timeout
from network_results import pack, unpack

from latentdd import api
from latentdd.config import build_config
from latentdd.engine import RunDir
from latentdd.evaluate.metrics import cross_arch_mean
from latentdd.evaluate.run_cache import NetworksInProgress
from latentdd.fileio import atomic_write_text
from latentdd.presets.mtt import mtt_whitening
from latentdd.priors.loading.resolve import split_spec

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def ensure_prior(
    dataset: str, data_dir: str, out: Path, steps: int | None, device: str, given: str | None
) -> Path | str:
    """``given`` (``{dataset}`` is filled in) when it names a prior file or another prior spec,
    else ``out/prior.safetensors``, trained first when absent."""
    if given:
        spec = given.format(dataset=dataset)
        if split_spec(spec)[0] != "file":  # builtin:, random, module:, ...: resolved (and checked) by distill
            return spec
        path = Path(spec)
        if not path.is_file():
            raise SystemExit(
                f"--prior {path} does not exist; train it with `latentdd prior train` or omit --prior"
            )
        return path
    path = out / "prior.safetensors"
    if not path.is_file():
        t = time.perf_counter()
        api.train_prior(
            dataset,
            path,
            data_dir=data_dir,
            steps=steps,
            seed=0,
            device=device,
            license_text="trained by latentdd bench on the dataset's own license",
        )
        print(f"[{dataset}] prior trained in {time.perf_counter() - t:.0f} s -> {path}", flush=True)
    return path


def ensure_experts(dataset: str, data_dir: str, out: Path, zca: bool, args: argparse.Namespace) -> Path:
    """The dataset's expert buffer for MTT (ZCA-whitened when the preset whitens), trained first."""
    from latentdd.data import load_dataset
    from latentdd.experts import train_experts

    folder = out / ("experts-zca" if zca else "experts")
    t = time.perf_counter()
    report = train_experts(
        load_dataset(dataset, data_dir),
        folder,
        num=args.experts,
        epochs=args.expert_epochs or expert_epochs_needed(dataset, args.ipcs),
        zca=zca,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    if report.trained:
        print(
            f"[{dataset}] experts {report.trained} trained in {time.perf_counter() - t:.0f} s -> {folder}",
            flush=True,
        )
    return folder


def expert_epochs_needed(dataset: str, ipcs: list[int]) -> int:
    """Exactly the epochs the sweep's MTT runs read: a student starts at most at epoch
    ``max_start_epoch - 1`` and is compared with the expert ``expert_epochs`` later (cpu-small preset;
    CIFAR-10: 3 at IPC 1, 15 at IPC 10), so no expert trains longer than a run needs."""
    from latentdd.presets import resolve_preset

    rows = [resolve_preset("mtt", "cpu-small", dataset, ipc) for ipc in ipcs]
    return max(r["max_start_epoch"] - 1 + r["expert_epochs"] for r in rows)


def dataset_slug(dataset: str) -> str:
    """A file-name-safe name for a dataset spec: ``folder:../x/imagenette64`` -> ``imagenette64``."""
    kind, _, rest = dataset.partition(":")
    return Path(rest).name if rest else kind


def distill_if_needed(
    dataset: str,
    data_dir: str,
    method: str,
    space: str,
    ipc: int,
    prior: Path | str | None,
    out: Path,
    args: argparse.Namespace,
) -> None:
    """Make (or finish, after a kill) the run folder ``out/<method>-<space>-ipc<N>``."""
    run_dir = out / run_name(method, space, ipc, args)
    if (run_dir / RunDir.CONFIG).is_file():
        api.resume(run_dir, progress=not args.quiet)  # returns at once when the run is finished
        return
    settings = {
        "dataset": dataset,
        "data_dir": data_dir,
        "method": method,
        "space": space,
        "ipc": ipc,
        "preset": "cpu-small",
        "seed": args.seed,
        "device": args.device,
        "out": str(run_dir),
        "layer": args.layer,
        "eval_protocol": "cpu-small",
    }
    if space == "latent":
        settings["prior"] = str(prior)
        settings.update(parse_overrides(args.overrides))
    if method == "mtt":
        zca = mtt_whitening(dataset, ipc)  # as MTT's table says for this dataset and IPC
        settings["experts"] = str(ensure_experts(dataset, data_dir, out, zca, args))
    if args.iterations:
        settings["iterations"] = args.iterations
    api.distill(build_config(settings), progress=not args.quiet)


def run_name(method: str, space: str, ipc: int, args: argparse.Namespace) -> str:
    tag = f"-{args.tag}" if args.tag and space == "latent" else ""
    return f"{method}-{space}{tag}-ipc{ipc}"


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``["lr_feat=0.1", "init=sample"]`` -> settings (numbers parsed, the rest kept as text)."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def markdown(dataset: str, results: dict[str, dict]) -> str:
    first = next(iter(results.values()))
    models = list(first["accuracy"])
    head = "| run | " + " | ".join(models) + " | cross-arch mean | distill s | peak RSS MB |"
    lines = [head, "|" + "---|" * (len(models) + 4)]
    for r in results.values():
        base = r.get("baseline_random_real")
        if base:
            base_xa = cross_arch_mean(base, r.get("distill_model"))
            xa = f"{base_xa:.1f}" if base_xa is not None else "-"
            lines.append(
                f"| random real, IPC {r['ipc']} | "
                + " | ".join(
                    f"{base[m]['mean']:.1f} ± {base[m]['std']:.1f}" if m in base else "-" for m in models
                )
                + f" | {xa} | | |"
            )
    for name, r in results.items():
        cells = [f"{r['accuracy'][m]['mean']:.1f} ± {r['accuracy'][m]['std']:.1f}" for m in models]
        xa = r.get("cross_arch_mean")
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {xa:.1f} | {r['distill_seconds']:.0f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    proto = f"protocol {first['protocol']}, {first['epochs']} epochs, seeds {first['seeds']}"
    return f"### {dataset} ({proto})\n\n" + "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"])
    ap.add_argument("--methods", nargs="+", default=["dm"])
    ap.add_argument("--spaces", nargs="+", default=["pixel", "latent"])
    ap.add_argument("--ipcs", nargs="+", type=int, default=[10])
    ap.add_argument("--models", type=lambda s: s.split(","), default=None)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument(
        "--layer",
        type=lambda s: s if s == "auto" else int(s),
        default="auto",
        help="prior layer for latent runs: an index, or auto (chosen on a validation split, the default)",
    )
    ap.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="override the preset's distillation iterations (a smoke test; the tables use the preset)",
    )
    ap.add_argument("--experts", type=int, default=5, help="MTT experts (cpu-small: 5)")
    ap.add_argument(
        "--expert-epochs",
        type=int,
        default=None,
        help="epochs per MTT expert (default: exactly what the sweep's IPCs need under cpu-small)",
    )
    ap.add_argument("--prior-steps", type=int, default=None)
    ap.add_argument(
        "--prior",
        default=None,
        help="an existing prior for latent runs, a file or builtin:NAME ({dataset} is replaced), e.g. "
        "bench/out/{dataset}/prior-cgen.safetensors; default: train one per dataset",
    )
    ap.add_argument("--data-dir", default=str(SHARED))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--results", type=Path, default=Path("bench/results"), help="folder of the tables")
    ap.add_argument(
        "--tag",
        default="",
        help="name latent runs <method>-latent-<tag>-ipc<N> (a variant beside the default latent runs)",
    )
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a distillation setting for the latent runs, e.g. --set lr_feat=0.1 (repeatable)",
    )
    ap.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the random-real baseline (already in the table from an earlier run at this IPC)",
    )
    ap.add_argument("--quiet", action="store_true")
    return ap


def main() -> None:
    args = build_parser().parse_args()
    # IPC outermost: a worker that finishes one dataset's IPC 10 helps with the other's before any IPC 1
    jobs = [
        (ipc, dataset, method, space)
        for ipc in args.ipcs
        for dataset in args.datasets
        for method in args.methods
        for space in args.spaces
    ]
    priors: dict[str, Path | str | None] = {}
    later = [job for job in jobs if not sweep_job(*job, args, priors, wait=False)]
    for job in later:  # held by another worker the first time round: now wait for it
        sweep_job(*job, args, priors, wait=True)
    for dataset in args.datasets:
        results = json.loads((args.results / f"cpu_small_{dataset_slug(dataset)}.json").read_text())
        print(markdown(dataset, results), flush=True)


def sweep_job(
    ipc: int,
    dataset: str,
    method: str,
    space: str,
    args: argparse.Namespace,
    priors: dict[str, Path | str | None],
    wait: bool,
) -> bool:
    """Distill (if needed) and evaluate one run; ``False`` when another worker holds part of it and
    ``wait`` is off.  Workers claim a run's distillation with a lock file beside the run folder and
    each network through latentdd's own claims, so any number of workers share one sweep."""
    out = Path(args.out) / dataset_slug(dataset)
    out.mkdir(parents=True, exist_ok=True)
    name = run_name(method, space, ipc, args)
    if dataset not in priors:
        with FileLock(out / "prior.lock"):  # one worker trains a missing prior, the others wait for it
            priors[dataset] = (
                ensure_prior(dataset, args.data_dir, out, args.prior_steps, args.device, args.prior)
                if "latent" in args.spaces
                else None
            )
    # the random-real baseline depends only on the IPC: train it once, with the first run
    baseline = (method, space) == (args.methods[0], args.spaces[0]) and not args.no_baseline
    try:
        with FileLock(out / f"{name}.lock", timeout=-1 if wait else 0):
            distill_if_needed(dataset, args.data_dir, method, space, ipc, priors[dataset], out, args)
    except Timeout:
        print(f"[{dataset}] {name}: another worker is distilling it; back to it later", flush=True)
        return False
    packed = f"{dataset_slug(dataset)}-{name}"
    unpack(packed, out / name)  # networks an earlier session finished: read back, not retrained
    try:
        metrics = api.evaluate(
            out / name,
            protocol="cpu-small",
            models=args.models,
            runs=args.runs,
            epochs=args.epochs,
            baseline=baseline,
            progress=not args.quiet,
            wait_for_others=wait,
        )
    except NetworksInProgress as busy:
        pack(out / name, packed)
        print(
            f"[{dataset}] {name}: {busy.count} network(s) are being trained by another worker; back to it later",
            flush=True,
        )
        return False
    pack(out / name, packed)  # bench/results/networks/: what a later session reads back
    stats = json.loads((out / name / RunDir.STATS).read_text())
    metrics["distill_seconds"] = stats["distill_seconds"]
    metrics["peak_rss_mb"] = stats["peak_rss_mb"]
    print(f"[{dataset}] {name}: cross-arch mean {metrics.get('cross_arch_mean')}", flush=True)
    write_result(args.results, dataset, name, metrics)  # after every run, so a long sweep shows what it has
    return True


def write_result(folder: Path, dataset: str, name: str, metrics: dict) -> None:
    """Add one run to ``bench/results/cpu_small_<dataset>.json`` / ``.md`` (read-modify-write under a
    lock: several workers write the same table)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cpu_small_{dataset_slug(dataset)}.json"
    with FileLock(path.with_suffix(".lock")):
        results = json.loads(path.read_text()) if path.is_file() else {}
        results[name] = metrics
        atomic_write_text(path, json.dumps(results, indent=2) + "\n")
        atomic_write_text(path.with_suffix(".md"), markdown(dataset, results))


if __name__ == "__main__":
    main()
