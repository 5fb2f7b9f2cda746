"""Choose the latent-space learning rate of the feature map (and see every layer) on a validation split.

GLaD's ``lr_feat`` (10) was tuned for StyleGAN-XL; latentdd's built-in generators are smaller and
their feature maps have another scale.  This runs the ``--layer auto`` criterion (short DM runs
scored by a held-out architecture on images held out from the *training* set) for every
``lr_feat x layer`` pair and writes the table.  Resumable: finished pairs are kept in the JSON.

    python bench/latent_select.py --dataset mnist --data-dir ../shared/datasets \\
        --prior bench/out/mnist/prior-cgen.safetensors --lr-feats 10,1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from latentdd.config import build_config
from latentdd.data import load_dataset
from latentdd.device import resolve_device
from latentdd.engine.build import load_run_prior
from latentdd.engine.layer_auto import score_layer, validation_splits
from latentdd.fileio import atomic_write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default="../shared/datasets")
    ap.add_argument("--prior", required=True)
    ap.add_argument("--lr-feats", default="10,1")
    ap.add_argument(
        "--layers", default=None, help="comma-separated layers to try (default: all of the prior's)"
    )
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--models", default="lenet,mlp")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--also-test",
        action="store_true",
        help="also run each pair on the full training set and score it on the TEST split "
        "(a sweep to judge the validation choice against; never used to choose)",
    )
    args = ap.parse_args()
    out = Path(args.out or f"bench/results/latent_select_{args.dataset}.json")
    done = json.loads(out.read_text()) if out.is_file() else {"rows": []}

    cfg = build_config(
        {
            "dataset": args.dataset,
            "data_dir": args.data_dir,
            "method": "dm",
            "space": "latent",
            "prior": args.prior,
            "ipc": args.ipc,
            "preset": "cpu-small",
            "seed": args.seed,
            "device": "cpu",
            "layer_auto_iterations": args.iterations,
            "layer_auto_models": args.models.split(","),
            "layer_auto_epochs": args.epochs,
        }
    )
    splits = load_dataset(cfg.dataset, cfg.data_dir)
    device = resolve_device(cfg.device)
    val = validation_splits(cfg, splits)
    prior, record = load_run_prior(cfg, splits, device)
    done.update(
        protocol=(
            f"validation split: {cfg.layer_auto_val_per_class} training images per class held out; "
            f"DM {args.iterations} iterations, batch_real {cfg.batch_real}, IPC {args.ipc}; "
            f"scored by {args.models} trained {args.epochs} epochs"
        ),
        prior=record.get("path", args.prior),
        seed=args.seed,
        dataset=args.dataset,
    )
    for lr_feat in (float(x) for x in args.lr_feats.split(",")):
        layers = [int(x) for x in args.layers.split(",")] if args.layers else range(prior.num_layers)
        for layer in layers:
            if any(r["lr_feat"] == lr_feat and r["layer"] == layer for r in done["rows"]):
                continue
            t0 = time.perf_counter()
            pair_cfg = dataclasses.replace(cfg, lr_feat=lr_feat)
            scored = score_layer(pair_cfg, layer, val, device, True)
            mean, per_model = scored.mean, scored.per_model
            row = {
                "lr_feat": lr_feat,
                "layer": layer,
                "val_accuracy": round(mean, 2),
                "per_model": per_model,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            print(f"lr_feat {lr_feat:g} layer {layer}: {mean:.2f}% ({row['seconds']:.0f} s)", flush=True)
            if args.also_test:
                tested = score_layer(pair_cfg, layer, splits, device, True)
                test_mean, test_per_model = tested.mean, tested.per_model
                row.update(test_accuracy=round(test_mean, 2), test_per_model=test_per_model)
                print(f"  test split (not used to choose): {test_mean:.2f}%", flush=True)
            done["rows"].append(row)
            atomic_write_json(out, done)
    done["date"] = time.strftime("%Y-%m-%d")
    atomic_write_json(out, done)


if __name__ == "__main__":
    main()
