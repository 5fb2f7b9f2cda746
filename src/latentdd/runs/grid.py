"""Image grids: one row per class, class names on the left."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from ..fileio import atomic_write  # noqa: E402


def grid_image(
    images01: torch.Tensor, labels: torch.Tensor, num_classes: int, max_per_class: int = 10
) -> torch.Tensor:
    """A ``C x H x W`` grid with class ``c``'s images in row ``c`` (blank where a class has fewer)."""
    n, ch, h, w = images01.shape
    per = min(max_per_class, max(1, int(torch.bincount(labels, minlength=num_classes).max())))
    tiles = torch.ones(num_classes, per, ch, h, w)
    for c in range(num_classes):
        xs = images01[labels == c][:per]
        tiles[c, : xs.shape[0]] = xs
    return make_grid(tiles.flatten(0, 1), nrow=per, padding=1, pad_value=1.0)


def save_grid(
    images01: torch.Tensor,
    labels: torch.Tensor,
    classes: list[str],
    path: str | Path,
    title: str = "",
    max_per_class: int = 10,
) -> None:
    grid = grid_image(images01.detach().float().cpu(), labels.cpu(), len(classes), max_per_class)
    rows = len(classes)
    h = grid.shape[1]
    fig_h = max(2.0, 0.45 * rows + 0.6)
    fig_w = fig_h * grid.shape[2] / h + 1.6
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), dpi=110)
    img = grid.permute(1, 2, 0).numpy()
    ax.imshow(
        img.squeeze(-1) if img.shape[-1] == 1 else img,
        cmap="gray" if img.shape[-1] == 1 else None,
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    cell = (h - 1) / rows
    ax.set_yticks([1 + cell * (r + 0.5) for r in range(rows)])
    ax.set_yticklabels(classes, fontsize=8)
    ax.set_xticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
