"""How each evaluation architecture trains fastest on this hardware: the ``--fast`` modes.

Evaluation (training fresh networks on a synthetic set) is the cost that sizes every
benchmark.  On a CPU, two things decide an architecture's speed, and they differ by
architecture:

* ConvNet, ResNet18 and ViT spend a large share of a step outside their matrix products:
  GroupNorm (instance norm), ReLU, pooling, LayerNorm and GELU passes, each a separate
  memory-bound kernel in eager PyTorch.  ``torch.compile`` (inductor) fuses them.
* AlexNet has no normalization and spends ~80 % of its step in oneDNN convolutions, which
  inductor leaves alone (compiled it got slower); those convolutions run faster on NHWC
  (channels-last) tensors.

Measured with ``bench/eval_speed.py`` and in-process A/B runs on the 2-core AVX-512 machine
of 2026-12-02 (CIFAR-10 shape, 100 images, DSA; median of 3 interleaved runs, images/s
relative to eager): ConvNet compiled 1.75x, ResNet18 compiled 1.26-1.39x, ViT compiled
1.04-1.28x, AlexNet channels-last 1.20x (compiled 0.86-0.96x), VGG11 no gain either way
(compiled 0.70-1.05x, channels-last 0.94x), LeNet and MLP slower compiled (0.6-0.9x).
:data:`FAST_PATHS` records those choices; ``auto`` applies them to runs long enough to repay
the first compilation (3-40 s, cached on disk afterwards).

A fast path gives the same figures in distribution, not bit for bit (fused kernels and NHWC
convolutions sum in another order, and 300 epochs amplify that), so a network trained on one
has its own evaluation-cache key; a plain one keeps the key it always had.
"""

from __future__ import annotations

import torch
from torch import nn

from ..compile import can_compile
from ..errors import UserError
from ..memory_format import model_channels_last, to_channels_last
from ..nets.fit import Forward

COMPILED = "compiled"
CHANNELS_LAST = "channels_last"
PLAIN = ""  # eager, NCHW: what every evaluation did before the fast paths

#: The fastest measured way to train each architecture (module docstring); others train plain.
FAST_PATHS: dict[str, str] = {
    "convnet": COMPILED,
    "resnet18": COMPILED,
    "vit": COMPILED,
    "alexnet": CHANNELS_LAST,
}
#: ``auto`` takes a fast path for runs of at least this many image-epochs (images x epochs): a
#: ``cpu-small`` run of an IPC 10 set (100 images x 300 epochs) does, an IPC 1 set's (3,000) stays
#: plain (compiling would cost more than it saves, and those figures keep their cached results).
AUTO_MIN_IMAGE_EPOCHS = 20_000
#: One compiled function serves every architecture, image size and batch size it meets; each is
#: a separate graph, more than dynamo's default of 8 in one evaluation grid.
RECOMPILE_LIMIT = 64
FAST_MODES = ("auto", "off", "compile")


def check_fast_mode(mode: str) -> str:
    """``mode`` lower-cased, or a one-line error naming the choices."""
    mode = str(mode).lower()
    if mode not in FAST_MODES:
        raise UserError(f"--fast must be auto, off or compile, got {mode!r}")
    return mode


def choose_fast_path(mode: str, model_name: str, image_epochs: int, device: torch.device | str) -> str:
    """The path one evaluation run of ``model_name`` trains on: :data:`PLAIN`, :data:`COMPILED` or
    :data:`CHANNELS_LAST`.

    ``off``: plain.  ``compile``: compiled for every architecture (an error where no compiler is
    available).  ``auto``: the architecture's entry in :data:`FAST_PATHS` for runs of at least
    :data:`AUTO_MIN_IMAGE_EPOCHS` image-epochs; a compiled path stays plain without a compiler.
    """
    mode = check_fast_mode(mode)
    device = torch.device(device)
    if mode == "off":
        return PLAIN
    if mode == "compile":
        if not can_compile(device):
            raise UserError(
                f"--fast compile needs a C compiler (cc/gcc) for {device.type}; install one or use --fast auto"
            )
        return COMPILED
    path = FAST_PATHS.get(model_name, PLAIN) if image_epochs >= AUTO_MIN_IMAGE_EPOCHS else PLAIN
    if path == COMPILED and not can_compile(device):
        return PLAIN
    return path


def prepare(model: nn.Module, path: str) -> Forward | None:
    """Put ``model`` in the layout ``path`` trains in and return the training forward for it
    (``None``: plain ``net(batch)``).  Parameters stay the model's own, so the optimizer, the
    checkpoint and the (eager) test pass see the same tensors."""
    if path == COMPILED:
        return compiled_forward()
    if path == CHANNELS_LAST:
        model_channels_last(model)
        return _channels_last_forward
    if path != PLAIN:
        raise ValueError(f"unknown fast path {path!r}")
    return None


def _forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net(x)


def _channels_last_forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net(to_channels_last(x))  # DSA hands back NCHW batches


_compiled: Forward | None = None


def compiled_forward() -> Forward:
    """``net(x)`` compiled once per process; the network is an argument, so every fresh network
    of an architecture reuses one graph (its parameters are graph inputs)."""
    global _compiled
    if _compiled is None:
        import torch._dynamo

        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        _compiled = torch.compile(_forward, dynamic=False)
    return _compiled
