"""Share of a distilled set's pixels within 2 % of 0 or 1 (the issue-15 check that latent images
saturate no more than pixel ones), for one or more synset files or run folders.

    python bench/synset_saturation.py bench/out/cifar10/dm-pixel-ipc1 bench/out/cifar10/dm-latent-*-ipc1

A path that holds no synthetic set (a glob also matching a run's ``.lock`` file) gets one line saying so,
the others are still measured, and the exit status is 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from latentdd.errors import UserError
from latentdd.evaluate.prior_score import saturated_fraction
from latentdd.synth.io import load_synset


def saturation(path: str) -> float:
    p = Path(path)
    synset = load_synset(p / "synset.safetensors" if p.is_dir() else p)
    mean = torch.tensor(synset.mean).view(1, -1, 1, 1)
    std = torch.tensor(synset.std).view(1, -1, 1, 1)
    return saturated_fraction(synset.images * std + mean)


def main(paths: list[str]) -> int:
    failed = 0
    for arg in paths:
        try:
            print(f"{arg}: {100 * saturation(arg):.1f} % of pixels within 2 % of the bounds")
        except UserError as err:
            print(f"{arg}: skipped: {err}", file=sys.stderr)
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
