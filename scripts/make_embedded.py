"""Make the embedded default dataset shipped inside the package.

    python scripts/make_embedded.py            # from the repository root

reads ``../shared/datasets/fashion_mnist/{train,test}.npz`` + ``classes.txt`` (the
official Fashion-MNIST release as npz; MIT licensed, Copyright (c) 2017 Zalando SE) and
writes ``src/latentdd/data/embedded/fashion_mnist_small.npz`` + ``classes.txt``: the
first :data:`N_TRAIN` train and :data:`N_TEST` test images of each class, in the
release's order (uint8 ``N x 28 x 28``; keys ``x_train``, ``y_train``, ``x_test``,
``y_test``).

The output is byte-for-byte reproducible: ``np.savez_compressed`` stamps each zip
member with the current time, so this script writes the same npz members (one
``.npy`` each, deflated) with a fixed timestamp instead.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "datasets" / "fashion_mnist"
DEFAULT_OUT = REPO / "src" / "latentdd" / "data" / "embedded"
FILENAME = "fashion_mnist_small.npz"
N_TRAIN = 500
N_TEST = 100
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # earliest zip timestamp


def first_per_class(y: np.ndarray, n: int) -> np.ndarray:
    """Indices of the first ``n`` images of each class, in their original (interleaved) order."""
    picks = [np.flatnonzero(y == c)[:n] for c in np.unique(y)]
    short = [c for c, p in zip(np.unique(y), picks, strict=True) if len(p) < n]
    if short:
        raise SystemExit(f"classes {short} have fewer than {n} images")
    return np.sort(np.concatenate(picks))


def save_npz_reproducibly(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """What ``np.savez_compressed`` writes, minus the wall-clock timestamps."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder with train.npz, test.npz")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="package folder to write into")
    args = ap.parse_args()

    arrays = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        with np.load(args.source / f"{split}.npz") as npz:
            x, y = npz["x"], npz["y"]
        keep = first_per_class(y, n)
        arrays[f"x_{split}"] = x[keep].astype(np.uint8)
        arrays[f"y_{split}"] = y[keep].astype(np.int64)

    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / FILENAME
    save_npz_reproducibly(out, arrays)
    (args.out / "classes.txt").write_bytes((args.source / "classes.txt").read_bytes())
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, sha256 {digest})")
    for key, arr in arrays.items():
        print(f"  {key}: {arr.dtype} {arr.shape}")


if __name__ == "__main__":
    main()
