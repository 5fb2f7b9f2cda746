"""DM (Zhao & Bilen, WACV 2023) and GLaD-with-DM (Cazenavette et al., CVPR 2023).

DM: SGD lr 1 on pixels, momentum 0.5, 20k iterations, 256 real images per class, DSA,
init from real images -- the same for every dataset and IPC in the paper's code.
GLaD with DM: lr 10 on the intermediate feature map, 0.01 on the latent code w.
cpu-small (PROTOCOL.md): 500 iterations with 64 real images per class.
"""

from __future__ import annotations

from typing import Any

from .registry import register_preset

_COMMON = {"lr_img": 1.0, "lr_feat": 10.0, "lr_latent": 0.01, "momentum": 0.5, "dsa": True, "init": "auto"}


@register_preset("dm", "paper")
def dm_paper(dataset: str, ipc: int) -> dict[str, Any]:
    return {**_COMMON, "iterations": 20000, "batch_real": 256}


@register_preset("dm", "cpu-small")
def dm_cpu_small(dataset: str, ipc: int) -> dict[str, Any]:
    return {**_COMMON, "iterations": 500, "batch_real": 64}
