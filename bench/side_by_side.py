"""Put run folders' ``grid.png`` pictures side by side in one PNG (the pixel and latent sets of one
objective, to look at what distillation in each space made of the same real images):

    python bench/side_by_side.py bench/out/cifar10/mtt-pixel-ipc1 bench/out/cifar10/mtt-latent-*-ipc1 \
        --out bench/results/grid16_cifar10_mtt_pixel_vs_latent.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from latentdd.fileio import atomic_write

GAP = 8  # white pixels between two pictures


def side_by_side(pictures: list[Path]) -> Image.Image:
    images = [Image.open(p).convert("RGB") for p in pictures]
    width = sum(im.width for im in images) + GAP * (len(images) - 1)
    sheet = Image.new("RGB", (width, max(im.height for im in images)), "white")
    x = 0
    for im in images:
        sheet.paste(im, (x, 0))
        x += im.width + GAP
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (their grid.png) or PNG files")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    pictures = [r / "grid.png" if r.is_dir() else r for r in args.runs]
    missing = [str(p) for p in pictures if not p.is_file()]
    if missing:
        print(f"no picture at {', '.join(missing)}; pass run folders that hold a grid.png", file=sys.stderr)
        return 1
    sheet = side_by_side(pictures)
    atomic_write(args.out, lambda tmp: sheet.save(tmp, format="PNG"))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
