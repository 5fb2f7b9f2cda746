"""Evaluation training speed: latentdd against the published ``evaluate_synset`` loop, same run.

Trains each evaluation architecture on a 10-image and a 100-image set at 28 px (1 channel) and
32 px (3 channels) with DSA, three ways, one after the other in one process:

* ``published``: ``utils.evaluate_synset`` of VICO-UoE/DatasetCondensation, imported from a
  checkout (or a bare mirror) given by ``--reference``, on the published network of that name
  (``utils.get_network``; ViT is not in the published code, so its row trains latentdd's ViT in
  the published loop).  Asked for ``epochs - 1``, it trains ``epochs`` and tests once on a
  10-image loader.
* ``eager``: :func:`latentdd.evaluate.train.fit_network` on the plain path (``--fast off``),
  ``epochs`` epochs.
* ``fast``: the same on the architecture's path in ``latentdd.evaluate.speed.FAST_PATHS`` (what
  ``--fast auto`` takes for long runs; plain where it lists none).
* ``compiled`` / ``channels_last``: the same on that path, for every architecture (how the
  table in ``FAST_PATHS`` was chosen).
  Before the timed runs, one untimed 2-epoch run per compiled mode compiles (``compile_seconds``).

Every timed run trains ``--images-per-run`` images (epochs = that / set size); the modes take
turns ``--repeats`` times and the median run counts.

Both loops use the full DSA strategy ``color_crop_cutout_flip_scale_rotate`` (latentdd drops the
flip for digit sets; here both do the same work).  Pixel content does not change the cost, so the
sets are random tensors.  Reported per row: images/s (images x epochs / seconds), the ratio to the
published loop, multiply-adds per second (forward + backward counted by
``torch.utils.flop_counter``) and their fraction of the machine's peak, measured here as the best
of a 4096 x 4096 matrix product and a 128-channel 3x3 convolution.

    python bench/eval_speed.py --reference /path/to/DatasetCondensation
        [--models convnet,alexnet,vgg11,resnet18,vit,lenet,mlp] [--sizes 10,100]
        [--shapes mnist,cifar10] [--modes published,eager,fast] [--threads 2]
        [--images-per-run 1000] [--repeats 3]
        [--out bench/results/eval_speed.json]

Rows are appended to ``--out`` as they finish (a killed run keeps what it measured).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from published_reference import export_reference
from torch.utils.flop_counter import FlopCounterMode

from latentdd.augment import make_dsa
from latentdd.data.dataset import ImageDataset
from latentdd.evaluate.protocols import EvalProtocol
from latentdd.evaluate.speed import COMPILED, FAST_PATHS, PLAIN
from latentdd.evaluate.train import fit_network
from latentdd.fileio import atomic_write_json
from latentdd.nets import create_model

SHAPES = {"mnist": (1, 28), "cifar10": (3, 32)}
PUBLISHED_NAMES = {
    "convnet": "ConvNet",
    "alexnet": "AlexNet",
    "vgg11": "VGG11",
    "resnet18": "ResNet18",
    "lenet": "LeNet",
    "mlp": "MLP",
}
STRATEGY = "color_crop_cutout_flip_scale_rotate"


def load_reference(path: Path) -> tuple[object, Path]:
    """Import the published ``utils`` module (``bench/published_reference.py``: a checkout or a bare
    mirror, copied out with the flatten patch)."""
    folder = export_reference(path, ("utils.py", "networks.py"))
    sys.path.insert(0, str(folder))
    import utils  # the published module

    return utils, folder


def measure_peak(threads: int) -> float:
    """Best multiply-adds per second of kernels that run near the hardware's limit: a 4096 x 4096
    matrix product and 3x3 convolutions in both layouts (on the AVX-512 machine of 2026-12-02 a
    channels-last 256-channel convolution reached 255 G/s where the matrix product reached 92)."""
    torch.set_num_threads(threads)
    best = 0.0
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    probes: list[tuple[Callable[[], object], float]] = [(lambda: a @ b, 4096.0**3)]
    for cin, side, batch in ((128, 16, 256), (256, 8, 200), (512, 8, 100)):
        x = torch.randn(batch, cin, side, side)
        conv = torch.nn.Conv2d(cin, cin, 3, padding=1).requires_grad_(False)
        macs = batch * side * side * cin * cin * 9.0
        probes.append((lambda conv=conv, x=x: conv(x), macs))
        x_cl = x.contiguous(memory_format=torch.channels_last)
        conv_cl = (
            torch.nn.Conv2d(cin, cin, 3, padding=1)
            .requires_grad_(False)
            .to(memory_format=torch.channels_last)
        )
        probes.append((lambda conv=conv_cl, x=x_cl: conv(x), macs))
    for fn, macs in probes:
        fn()
        for _ in range(3):
            start = time.perf_counter()
            fn()
            best = max(best, macs / (time.perf_counter() - start))
    return best


def macs_per_image(net: torch.nn.Module, channels: int, size: int) -> float:
    """Forward + backward multiply-adds of one training image (flop counter, batch of 10)."""
    x = torch.randn(10, channels, size, size)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(x), torch.arange(10) % 10).backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 2 / 10


def tiny_test_set(channels: int, size: int) -> ImageDataset:
    return ImageDataset(
        torch.randn(10, channels, size, size),
        torch.arange(10),
        [str(c) for c in range(10)],
        (0.0,) * channels,
        (1.0,) * channels,
    )


def time_published(utils, model: str, x: torch.Tensor, y: torch.Tensor, epochs: int) -> tuple[float, float]:
    """Seconds of the published ``evaluate_synset`` (``epochs + 1`` epochs and one tiny test), and
    the multiply-adds per image of the network it trained."""
    channels, size = x.shape[1], x.shape[-1]
    if model in PUBLISHED_NAMES:
        net = utils.get_network(PUBLISHED_NAMES[model], channels, 10, (size, size))
    else:
        net = create_model(model, channels, 10, (size, size))
    macs = macs_per_image(net, channels, size)
    args = Namespace(
        device="cpu",
        lr_net=0.01,
        epoch_eval_train=epochs,
        batch_train=256,
        dsa=True,
        dsa_strategy=STRATEGY,
        dsa_param=utils.ParamDiffAug(),
        dc_aug_param=None,
    )
    test = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:10], y[:10]), batch_size=256)
    start = time.perf_counter()
    utils.evaluate_synset(0, net, x, y, test, args)
    return time.perf_counter() - start, macs


def time_latentdd(model: str, x: torch.Tensor, y: torch.Tensor, epochs: int, path: str) -> float:
    channels, size = x.shape[1], x.shape[-1]
    protocol = EvalProtocol("speed", epochs=epochs, runs=1)
    _, seconds, _ = fit_network(
        model,
        x,
        y,
        tiny_test_set(channels, size),
        protocol=protocol,
        seed=0,
        dsa=make_dsa(STRATEGY),
        fast_path=path,
    )
    return seconds


def run_mode(
    mode: str, utils, model: str, x: torch.Tensor, y: torch.Tensor, epochs: int
) -> tuple[float, float | None]:
    """Seconds of one timed run of ``mode`` (and, for the published loop, its network's
    multiply-adds per image)."""
    if mode == "published":  # it trains epoch_eval_train + 1 epochs: ask for one fewer
        return time_published(utils, model, x, y, epochs - 1)
    return time_latentdd(model, x, y, epochs, path_of(mode, model)), None


def path_of(mode: str, model: str) -> str:
    """The fast path a latentdd mode trains ``model`` on."""
    return {"eager": PLAIN, "fast": FAST_PATHS.get(model, PLAIN), "compiled": COMPILED}.get(mode, mode)


def append_row(out: Path, row: dict) -> None:
    rows = json.loads(out.read_text()) if out.is_file() else []
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, [*rows, row])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--reference", type=Path, required=True, help="DatasetCondensation checkout or bare mirror"
    )
    ap.add_argument("--models", default="convnet,alexnet,vgg11,resnet18,vit,lenet,mlp")
    ap.add_argument("--sizes", default="10,100", help="images in the training set")
    ap.add_argument("--shapes", default="mnist,cifar10")
    ap.add_argument(
        "--modes", default="published,eager,fast", help="of published, eager, fast, compiled, channels_last"
    )
    ap.add_argument(
        "--images-per-run",
        type=int,
        default=1000,
        help="images trained per timed run (epochs = this / set size: 10 for 100 images, 100 for 10)",
    )
    ap.add_argument(
        "--repeats", type=int, default=3, help="timed runs per mode, interleaved; the median counts"
    )
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--out", type=Path, default=Path("bench/results/eval_speed.json"))
    args = ap.parse_args()
    utils, ref_path = load_reference(args.reference)
    peak = measure_peak(args.threads)
    print(f"peak: {peak / 1e9:.1f} G multiply-adds/s on {args.threads} thread(s)", flush=True)
    modes = args.modes.split(",")
    for shape in args.shapes.split(","):
        channels, size = SHAPES[shape]
        for n in (int(s) for s in args.sizes.split(",")):
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(n, channels, size, size, generator=gen)
            y = torch.arange(n) % 10
            epochs = max(2, args.images_per_run // n)
            for model in args.models.split(","):
                row: dict = {
                    "model": model,
                    "shape": shape,
                    "images": n,
                    "epochs": epochs,
                    "repeats": args.repeats,
                    "threads": args.threads,
                    "peak_macs_per_s": peak,
                    "macs_per_image": macs_per_image(
                        create_model(model, channels, 10, (size, size)), channels, size
                    ),
                    "torch": torch.__version__,
                    "machine": platform.processor() or platform.machine(),
                    "date": datetime.date.today().isoformat(),
                }
                row["fast_path"] = FAST_PATHS.get(model, PLAIN)
                if any(path_of(m, model) == COMPILED for m in modes if m != "published"):
                    start = time.perf_counter()  # compile once, untimed (later runs reuse the graph)
                    time_latentdd(model, x, y, 2, COMPILED)
                    row["compile_seconds"] = time.perf_counter() - start
                seconds: dict[str, list[float]] = {m: [] for m in modes}
                for _ in range(args.repeats):  # interleaved: load that comes and goes hits every mode
                    for mode in modes:
                        took, macs = run_mode(mode, utils, model, x, y, epochs)
                        seconds[mode].append(took)
                        if macs is not None:
                            row["published_macs_per_image"] = macs
                for mode in modes:
                    row[f"{mode}_seconds"] = seconds[mode]
                    row[f"{mode}_images_per_s"] = n * epochs / statistics.median(seconds[mode])
                if "published" in modes:
                    row["published_net"] = "published" if model in PUBLISHED_NAMES else "latentdd"
                for mode in (m for m in modes if m != "published"):
                    if f"{mode}_images_per_s" in row:
                        rate = row[f"{mode}_images_per_s"]
                        row[f"{mode}_fraction_of_peak"] = rate * row["macs_per_image"] / peak
                        if "published_images_per_s" in row:
                            row[f"{mode}_over_published"] = rate / row["published_images_per_s"]
                if "published_images_per_s" in row:
                    row["published_fraction_of_peak"] = (
                        row["published_images_per_s"] * row["published_macs_per_image"] / peak
                    )
                append_row(args.out, row)
                print(
                    f"{shape:7s} n={n:3d} {model:8s} "
                    + " ".join(
                        f"{m} {row[f'{m}_images_per_s']:7.1f} img/s"
                        for m in modes
                        if f"{m}_images_per_s" in row
                    )
                    + "".join(
                        f"  {m}/pub {row[f'{m}_over_published']:.2f}"
                        for m in modes
                        if f"{m}_over_published" in row
                    ),
                    flush=True,
                )
    print(f"reference code: {ref_path}")


if __name__ == "__main__":
    main()
