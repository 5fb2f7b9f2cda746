"""SHA-256 of the synthetic sets of a few tiny fixed-seed runs: DM (pixel and latent), DSA and MTT on
the embedded dataset at 8 px.  A refactoring that must not change behaviour prints the same lines
before and after (same machine, same torch).

    python bench/synset_fingerprint.py [--out FILE.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

import torch

from latentdd import api
from latentdd.config import build_config
from latentdd.experts import train_experts
from latentdd.synth.io import load_synset

TINY = {"width": 8, "depth": 1}
COMMON = {"dataset": "embedded", "image_size": 8, "ipc": 2, "iterations": 4, "model_args": TINY,
          "device": "cpu", "compile": "off", "seed": 3, "eval_models": []}  # fmt: skip
RUNS = {
    "dm-pixel": {"method": "dm"},
    "dm-latent": {"method": "dm", "space": "latent", "prior": "random", "layer": 0},
    "dsa-pixel": {"method": "dsa", "outer_loop": 2, "inner_loop": 1},
    "mtt-pixel": {"method": "mtt", "syn_steps": 2, "expert_epochs": 1, "max_start_epoch": 2, "zca": False},
}


def fingerprint(path: Path) -> str:
    saved = load_synset(path)
    digest = hashlib.sha256()
    for name in sorted(saved.tensors):
        digest.update(name.encode() + saved.tensors[name].contiguous().numpy().tobytes())
    digest.update(saved.images.contiguous().numpy().tobytes() + saved.labels.numpy().tobytes())
    return digest.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        experts = Path(tmp) / "experts"
        train_experts(api.load_dataset("embedded", image_size=8), experts, num=2, epochs=3, model_args=TINY,
                      device="cpu", progress=False)  # fmt: skip
        for name, settings in RUNS.items():
            extra = {"experts": str(experts)} if settings["method"] == "mtt" else {}
            cfg = build_config({**COMMON, **settings, **extra, "out": f"{tmp}/{name}"})
            run = api.distill(cfg, progress=False)
            rows[name] = fingerprint(run / "synset.safetensors")
            print(f"{name:10s} {rows[name]}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
