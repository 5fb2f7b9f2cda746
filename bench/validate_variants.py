"""Compare distillation variants (pixel, latent with any prior / layer / init / learning rate / bound) on a
validation split carved from the *training* data -- never the test set -- to choose what the tables run.

Each variant is a short DM distillation on the training data minus ``--val-per-class`` images per class,
scored by networks of other architectures trained on the distilled set and tested on the held-out images
(the ``--layer auto`` criterion, with the scorers chosen here).  Resumable: finished variants are kept in
the JSON, and the variant in progress keeps its distillation checkpoint and finished scorers in
``<out>.parts/<name>/``, so a killed run continues where it stopped.  Several workers (one per core) may run
the same command: each claims a variant, and each returns only when every variant is scored.

    python bench/validate_variants.py --dataset cifar10 --ipc 1 --iterations 200 \\
        --variant pixel:space=pixel \\
        --variant ae-l0-lr1:space=latent,prior=priors/cifar10-ae.safetensors,layer=0,lr_feat=1 \\
        --out bench/results/validate_cifar10_ipc1.json
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import time
from pathlib import Path

from filelock import FileLock

from latentdd.claims import try_claim
from latentdd.config import build_config
from latentdd.data import load_dataset
from latentdd.device import resolve_device
from latentdd.engine.layer_auto import score_layer, validation_splits
from latentdd.evaluate.prior_score import saturated_fraction
from latentdd.fileio import atomic_write_json


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    name, _, body = text.partition(":")
    settings: dict[str, object] = {}
    for pair in filter(None, body.split(",")):
        key, _, value = pair.partition("=")
        try:
            settings[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip()] = value
    return name, settings


def parts_folder(out: Path, name: str) -> Path:
    return out.parent / f"{out.stem}.parts" / name


def claim_file(out: Path, name: str) -> Path:
    """The lock a worker holds while it scores variant ``name`` (names hold dots: no ``with_suffix``)."""
    return parts_folder(out, name).parent / f"{name}.lock"


@functools.cache
def training_data(dataset: str, data_dir: str | None):
    """The dataset, loaded once per process (every variant of a validation reads the same one)."""
    return load_dataset(dataset, data_dir)


def resume_folder(out: Path, name: str, settings: dict[str, object]) -> Path:
    """``<out>.parts/<name>/``: the variant's checkpoint and finished scorers, kept only while they
    belong to these settings (a variant re-defined under the same name starts afresh)."""
    parts = parts_folder(out, name)
    stamp = parts / "settings.json"
    if stamp.is_file() and json.loads(stamp.read_text()) != settings:
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    atomic_write_json(stamp, settings)
    return parts


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--data-dir", default="../shared/datasets")
    ap.add_argument("--ipc", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--scorers", default="alexnet,vgg11,lenet", help="architectures trained on each set")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--val-per-class", type=int, default=100)
    ap.add_argument(
        "--scorer-seeds",
        type=int,
        default=1,
        help="seeds per scorer, averaged (AlexNet at IPC 1 is a coin flip)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", action="append", required=True, metavar="NAME:KEY=VALUE,...")
    ap.add_argument("--out", required=True)
    return ap


#: seconds between looks at variants other workers hold (a worker waits for them before it returns, so
#: what runs after it -- e.g. bench/grid16.py's latent rows -- sees every variant)
WAIT_SECONDS = 30.0


def read_rows(out: Path) -> dict:
    return json.loads(out.read_text()) if out.is_file() else {"rows": []}


def finished(out: Path, name: str) -> bool:
    return any(r["name"] == name for r in read_rows(out)["rows"])


def record_row(out: Path, row: dict, meta: dict) -> None:
    """Append ``row`` to the JSON under a file lock: other workers append to the same file."""
    with FileLock(str(out) + ".lock"):
        done = read_rows(out)
        done.update(meta)
        done["rows"].append(row)
        done["date"] = time.strftime("%Y-%m-%d")
        atomic_write_json(out, done)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "dataset": args.dataset,
        "ipc": args.ipc,
        "seed": args.seed,
        "protocol": (
            f"validation split: {args.val_per_class} training images per class held out (seed {args.seed}); "
            f"{args.iterations} iterations of the variant's method (DM unless it sets method=), cpu-small preset "
            f"otherwise; scored by {args.scorers} trained "
            f"{args.epochs} epochs on the distilled set ({args.scorer_seeds} seed(s) each, averaged) and tested on "
            "the held-out images"
        ),
    }
    base = {
        "dataset": args.dataset,
        "data_dir": args.data_dir,
        "method": "dm",
        "ipc": args.ipc,
        "preset": "cpu-small",
        "seed": args.seed,
        "device": "cpu",
        "layer": 0,
        "layer_auto_iterations": args.iterations,
        "layer_auto_models": args.scorers.split(","),
        "layer_auto_epochs": args.epochs,
        "layer_auto_val_per_class": args.val_per_class,
        "layer_auto_seeds": args.scorer_seeds,
    }
    pending = [v for v in map(parse_variant, args.variant) if not finished(out, v[0])]
    while pending:
        held = []
        for name, settings in pending:
            claim = try_claim(claim_file(out, name))
            if claim is None:  # another worker scores it
                held.append((name, settings))
                continue
            with claim:
                if not finished(out, name):  # (a peer may have finished it since this worker looked)
                    record_row(out, score_variant(name, {**base, **settings}, settings, args, out), meta)
                    shutil.rmtree(parts_folder(out, name), ignore_errors=True)  # the row holds it all now
                claim.finish()
        if held == pending:
            time.sleep(WAIT_SECONDS)
        pending = [v for v in held if not finished(out, v[0])]


def score_variant(
    name: str,
    full: dict[str, object],
    settings: dict[str, object],
    args: argparse.Namespace,
    out: Path,
) -> dict:
    """One variant's validation row (resuming inside the variant when its parts are there)."""
    cfg = build_config(full)
    val = validation_splits(cfg, training_data(cfg.dataset, cfg.data_dir))
    t0 = time.perf_counter()
    parts = resume_folder(out, name, full)
    scored = score_layer(cfg, int(cfg.layer), val, resolve_device("cpu"), True, resume=parts)
    mean, per_model, images = scored.mean, scored.per_model, scored.images
    row = {
        "name": name,
        "settings": settings,
        "iterations": args.iterations,
        "scorers": args.scorers,
        "epochs": args.epochs,
        "val_per_class": args.val_per_class,
        "scorer_seeds": args.scorer_seeds,
        "val_accuracy": round(mean, 2),
        "per_model": per_model,
        "runs": scored.runs,  # every scorer seed's accuracy
        "saturated": round(saturated_fraction(val.train.denormalize(images)), 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(
        f"{name}: {mean:.2f}% {per_model} saturated {row['saturated']:.3f} ({row['seconds']:.0f} s)",
        flush=True,
    )
    return row


if __name__ == "__main__":
    main()
