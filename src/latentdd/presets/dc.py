"""DC (Zhao, Mopuri & Bilen, ICLR 2021), DSA (Zhao & Bilen, ICML 2021), and GLaD with them.

Published settings (reference VICO-UoE/DatasetCondensation ``main.py`` and readme):
SGD on pixels lr 0.1, momentum 0.5; 256 real images per class; the network trains on
the synthetic set with SGD lr 0.01 (``lr_net``) in batches of 256; distance ``ours``;
1000 outer iterations with the (outer_loop, inner_loop) of the IPC
(:func:`loops_for_ipc`).  Initialization: DC's published runs
use the code's default ``--init noise`` (readme commands pass no ``--init``); DSA's
readme commands pass ``--init real``.  DSA strategy ``color_crop_cutout_flip_scale_rotate``
(flip is dropped for digit datasets, as the DSA readme advises, by ``make_dsa``).  DC
runs without augmentation, so its presets switch ``dsa`` off.

GLaD with DC/DSA (``distill_dc.py`` defaults of GeorgeCazenavette/glad): lr 1 on the
intermediate feature map (``lr_feat``) and 0.001 on the latent code w (``lr_latent``).

GLaD's own loop (``--preset glad``): ``distill_dc.py`` runs ``--Iteration 1000`` iterations of one
outer and one inner loop (``outer_loop 1, inner_loop 1`` at every IPC, not the DC paper's table),
lr 1 on pixels or the feature map (its ``lr_img``), 0.001 on w (``lr_w``), momentum 0.5, lr_net 0.01,
256 real images per class.  Its ``--dsa`` defaults to ``True``, so GLaD's default "DC" run is
``--method dsa --preset glad``; ``--method dc --preset glad`` is the same loop without augmentation.

``iterations`` counts synthetic updates, i.e. outer iterations x ``outer_loop``; both
presets convert (paper: 1000 outer iterations; cpu-small, PROTOCOL.md: 200).  When you
override ``--outer-loop``, scale ``--iterations`` yourself.  cpu-small also takes 64
real images per class (as DM's cpu-small) to fit a 2-core CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from .registry import register_preset, register_settings


@register_settings("dc", "dsa")
@dataclass
class GradientMatchingSettings:
    """What only gradient matching reads (``--outer-loop``, ``--dis-metric``, ...)."""

    outer_loop: int | None = None  # None: the DC paper's rule for the IPC
    inner_loop: int | None = None
    dis_metric: str = "ours"  # "ours" (per-output-channel 1 - cos), "mse", "cos"
    lr_net: float = 0.01
    batch_train: int = 256  # network training on the synthetic set between outer steps


_COMMON = {
    "lr_img": 0.1,
    "lr_feat": 1.0,
    "lr_latent": 0.001,
    "momentum": 0.5,
    "lr_net": 0.01,
    "batch_train": 256,
    "dis_metric": "ours",
    "batch_syn": None,
}
_DC = {**_COMMON, "init": "noise", "dsa": False}
_DSA = {**_COMMON, "init": "auto", "dsa": True, "dsa_strategy": "color_crop_cutout_flip_scale_rotate"}

PAPER_OUTER_ITERATIONS = 1000
GLAD_ITERATIONS = 1000
#: GLaD's distill_dc.py defaults (shared_args.py and its own parser)
_GLAD = {"outer_loop": 1, "inner_loop": 1, "iterations": GLAD_ITERATIONS, "batch_real": 256, "lr_img": 1.0}
CPU_SMALL_OUTER_ITERATIONS = 200


#: (outer_loop, inner_loop) per IPC, from the reference ``utils.get_loops``
PUBLISHED_LOOPS: dict[int, tuple[int, int]] = {
    1: (1, 1),
    10: (10, 50),
    20: (20, 25),
    30: (30, 20),
    40: (40, 15),
    50: (50, 10),
}


def loops_for_ipc(ipc: int) -> tuple[int, int]:
    """(outer_loop, inner_loop) of the published IPC nearest to ``ipc`` in log scale."""
    if ipc < 1:
        raise UserError(f"--ipc must be at least 1, got {ipc}")
    nearest = min(PUBLISHED_LOOPS, key=lambda p: abs(math.log(ipc / p)))
    return PUBLISHED_LOOPS[nearest]


def _loops(ipc: int, outer_iterations: int) -> dict[str, Any]:
    outer, inner = loops_for_ipc(ipc)
    return {"outer_loop": outer, "inner_loop": inner, "iterations": outer_iterations * outer}


@register_preset("dc", "paper")
def dc_paper(dataset: str, ipc: int) -> dict[str, Any]:
    return {**_DC, **_loops(ipc, PAPER_OUTER_ITERATIONS), "batch_real": 256}


@register_preset("dsa", "paper")
def dsa_paper(dataset: str, ipc: int) -> dict[str, Any]:
    return {**_DSA, **_loops(ipc, PAPER_OUTER_ITERATIONS), "batch_real": 256}


@register_preset("dc", "cpu-small")
def dc_cpu_small(dataset: str, ipc: int) -> dict[str, Any]:
    return {**_DC, **_loops(ipc, CPU_SMALL_OUTER_ITERATIONS), "batch_real": 64}


@register_preset("dsa", "cpu-small")
def dsa_cpu_small(dataset: str, ipc: int) -> dict[str, Any]:
    return {**_DSA, **_loops(ipc, CPU_SMALL_OUTER_ITERATIONS), "batch_real": 64}


@register_preset("dc", "glad")
def dc_glad(dataset: str, ipc: int) -> dict[str, Any]:
    return {**_DC, **_GLAD}


@register_preset("dsa", "glad")
def dsa_glad(dataset: str, ipc: int) -> dict[str, Any]:
    return {**_DSA, **_GLAD}
