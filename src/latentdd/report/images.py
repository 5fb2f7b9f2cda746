"""The synthetic images, class by class, each run's strip beside the others'.

Images are upscaled by an integer factor with nearest-neighbour in the PNG itself (so a
16 px image is still crisp at 64 px in any viewer, printer or PDF), and class ``c`` of
every run sits in one gallery, so pixel and latent sets of a class are seen together.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import torch
from PIL import Image
from torchvision.utils import make_grid

from .collect import Run
from .document import Figure, Gallery, Paragraph, Section

MIN_TILE = 64  # displayed pixels per image side, at least
MAX_PER_CLASS = 10


def upscale_factor(size: int, min_tile: int = MIN_TILE) -> int:
    return max(1, -(-min_tile // max(1, size)))


def to_png(image: torch.Tensor) -> bytes:
    """``C x H x W`` uint8 to PNG bytes (grayscale for one channel)."""
    arr = image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(arr.contiguous().numpy()).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def pixels01(run: Run) -> torch.Tensor:
    """The run's images back in [0, 1] (the synset stores them normalized)."""
    s = run.synset
    mean = torch.tensor(s.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(s.std, dtype=torch.float32).view(1, -1, 1, 1)
    return (s.images.float() * std + mean).clamp(0, 1)


def hard_labels(run: Run) -> torch.Tensor:
    """Class index of each image (the strongest class of a soft label)."""
    labels = run.synset.labels
    return labels.argmax(dim=1) if labels.is_floating_point() else labels


def class_strip(images01: torch.Tensor, max_per_class: int = MAX_PER_CLASS) -> bytes:
    """One class's images in a row, upscaled, with a white gap between them."""
    xs = (images01[:max_per_class].clamp(0, 1) * 255).round().to(torch.uint8)
    k = upscale_factor(int(xs.shape[-1]))
    xs = xs.repeat_interleave(k, dim=-1).repeat_interleave(k, dim=-2)
    grid = make_grid(xs, nrow=xs.shape[0], padding=max(2, k), pad_value=255)
    return to_png(grid[:1] if xs.shape[1] == 1 else grid)  # make_grid makes gray images RGB; keep them gray


def images_section(runs: Sequence[Run]) -> Section:
    blocks: list = []
    classes = runs[0].synset.classes
    pixels = [pixels01(r) for r in runs]
    shown = [min(MAX_PER_CLASS, r.ipc) for r in runs]
    note = "Each row: one class; each strip: one run's synthetic images of that class"
    if any(r.ipc > MAX_PER_CLASS for r in runs):
        note += f" (the first {MAX_PER_CLASS} of each class shown)"
    blocks.append(Paragraph(note + ", upscaled without smoothing."))
    for c, name in enumerate(classes):
        figures = []
        for r, px, k in zip(runs, pixels, shown, strict=True):
            xs = px[hard_labels(r) == c]
            if xs.shape[0] == 0:
                continue
            figures.append(
                Figure(
                    class_strip(xs, k),
                    r.label,
                    alt=f"{name}: {xs.shape[0]} synthetic image(s) of {r.label}",
                    pixelated=True,
                )
            )
        blocks.append(Gallery(name, figures))
    return Section("images", "Synthetic images", blocks)
