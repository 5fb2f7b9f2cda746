"""Which evaluation networks train under ``torch.compile``, and the compiled training forward.

Evaluation (training fresh networks on a synthetic set) is the cost that sizes every
benchmark, and on a CPU most architectures spend a large share of a step outside their
convolutions: GroupNorm (instance norm), ReLU and pooling passes over 128-channel feature
maps, each a separate memory-bound kernel in eager PyTorch.  Inductor fuses them.  Measured
with ``bench/eval_speed.py`` on the reference machine (2 cores, 100 images, CIFAR-10 size,
batch 256, DSA; seconds per training step eager -> compiled): ConvNet 0.30 -> 0.15,
ResNet18 1.48 -> 1.04, VGG11 0.39 -> 0.32, ViT 0.36 -> 0.34, AlexNet 0.45 -> 0.54.  AlexNet
spends 80 % of its step in oneDNN convolutions that inductor does not touch and gets slower,
ViT gains nothing, so ``auto`` compiles only the architectures listed in
:data:`COMPILE_PAYS`, and only runs long enough to repay the first compilation (9-40 s,
cached on disk afterwards).

Compiled and eager training give the same figures in distribution, not bit for bit (fused
kernels round differently, and 300 epochs amplify that), so a compiled network has its own
evaluation-cache key; an eager one keeps the key it always had.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..compile import can_compile
from ..errors import UserError

#: Architectures whose evaluation training step measured faster compiled (bench/eval_speed.py).
COMPILE_PAYS = frozenset({"convnet", "resnet18", "vit"})
#: ``auto`` compiles a run of at least this many image-epochs (images x epochs): a ``cpu-small``
#: run of an IPC 10 set (100 images x 300 epochs) compiles, an IPC 1 set's (3,000) does not.
AUTO_MIN_IMAGE_EPOCHS = 20_000
#: One compiled function serves every architecture, image size and batch size it meets; each is
#: a separate graph, more than dynamo's default of 8 in one evaluation grid.
RECOMPILE_LIMIT = 64
COMPILE_MODES = ("auto", "on", "off")


def check_compile_mode(mode: str) -> str:
    """``mode`` lower-cased, or a one-line error naming the choices."""
    mode = str(mode).lower()
    if mode not in COMPILE_MODES:
        raise UserError(f"the evaluation's compile mode must be auto, on or off, got {mode!r}")
    return mode


def use_compile(mode: str, model_name: str, image_epochs: int, device: torch.device | str) -> bool:
    """Whether one evaluation run of ``model_name`` trains compiled.

    ``on`` compiles every architecture (an error where no compiler is available), ``off``
    none, ``auto`` those in :data:`COMPILE_PAYS` for runs of at least
    :data:`AUTO_MIN_IMAGE_EPOCHS` image-epochs, where a compiler is available.
    """
    mode = check_compile_mode(mode)
    device = torch.device(device)
    if mode == "off":
        return False
    if mode == "on":
        if not can_compile(device):
            raise UserError(
                f"compiling the evaluation needs a C compiler (cc/gcc) for {device.type}; "
                "install one or use --compile off"
            )
        return True
    return model_name in COMPILE_PAYS and image_epochs >= AUTO_MIN_IMAGE_EPOCHS and can_compile(device)


def _forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net(x)


_compiled: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None


def compiled_forward() -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    """``net(x)`` compiled once per process; the network is an argument, so every fresh network
    of an architecture reuses one graph (its parameters are graph inputs)."""
    global _compiled
    if _compiled is None:
        import torch._dynamo

        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        _compiled = torch.compile(_forward, dynamic=False)
    return _compiled
