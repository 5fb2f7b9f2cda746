"""Optional ``torch.compile`` of the networks' embedding pass.

On this project's reference CPU (2 cores, AVX2) eager PyTorch spends about a third of
a DM iteration in memory-bound GroupNorm/ReLU/AvgPool passes over 128-channel feature
maps; inductor fuses them and the embedding runs ~1.6x faster (measured in
``bench/dm_speed.py``).  Compiling costs about a minute the first time (cached on disk
afterwards), so ``auto`` compiles only runs long enough to repay it.  The compiled
function takes the network as an argument, so the fresh network DM draws every
iteration reuses one compiled graph instead of recompiling.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable

import torch
from torch import nn

from .errors import UserError
from .memory_format import to_channels_last

log = logging.getLogger("latentdd.compile")

#: iterations from which ``--compile auto`` switches compilation on
AUTO_MIN_ITERATIONS = 300


def eager_embed(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    # NHWC input: the fresh networks' convolutions are channels-last (see memory_format.py)
    return net.embed(to_channels_last(x))


_compiled: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None


def compiled_embed() -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    global _compiled
    if _compiled is None:
        _compiled = torch.compile(eager_embed, dynamic=False)
    return _compiled


def can_compile(device: torch.device) -> bool:
    """Inductor needs a C compiler on CPU; MPS is not supported by it."""
    if device.type == "cpu":
        return shutil.which("cc") is not None or shutil.which("gcc") is not None
    return device.type == "cuda"


def choose_embed(
    mode: str, iterations: int, device: torch.device
) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    """``mode`` is ``on``, ``off`` or ``auto`` (on for runs of at least AUTO_MIN_ITERATIONS)."""
    mode = str(mode).lower()
    if mode not in ("auto", "on", "off", "true", "false"):
        raise UserError(f"--compile must be auto, on or off, got {mode!r}")
    if mode in ("off", "false"):
        return eager_embed
    if mode == "auto" and (iterations < AUTO_MIN_ITERATIONS or not can_compile(device)):
        return eager_embed
    if not can_compile(device):
        raise UserError(
            f"--compile on needs a C compiler (cc/gcc) for {device.type}; install one or use --compile off"
        )
    log.info("compiling the embedding pass with torch.compile (first run takes about a minute)")
    return compiled_embed()
