"""Pixel-level helpers shared by every dataset source: size, channels, stats, content hash.

Every source hands over ``uint8`` tensors ``N x C x H x W``; these helpers bring them
to one size and channel count (torchvision's antialiased resize and ITU-R 601 luma, so
the results match what users get from torchvision transforms), measure the per-channel
statistics of the train split and normalize.  Work is done in chunks so that converting
CIFAR-sized sets does not need several float copies of the whole set at once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import torch
from torchvision.transforms.v2 import functional as TF

from ..errors import UserError

log = logging.getLogger(__name__)

CHUNK = 4096  # images per conversion step: bounds the float temporaries of resize / grayscale


def check_channels(channels: int | None) -> None:
    if channels is not None and channels not in (1, 3):
        raise UserError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}; pass 1 or 3")


def check_image_size(image_size: int | None) -> None:
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise UserError(f"image size must be a positive integer, got {image_size!r}; pass e.g. 32")


def _chunked(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    if x.shape[0] <= CHUNK:
        return fn(x)
    return torch.cat([fn(x[i : i + CHUNK]) for i in range(0, x.shape[0], CHUNK)])


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to ``size`` (bilinear, antialiased) and center-crop to a square.

    Works on ``C x H x W`` or ``N x C x H x W`` uint8 tensors.  Cropping rather than
    squashing keeps object proportions, as torchvision's ``Resize(s) + CenterCrop(s)``.
    """
    h, w = x.shape[-2:]
    if h == size and w == size:
        return x

    def one(t: torch.Tensor) -> torch.Tensor:
        t = TF.resize(t, [size], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
        return TF.center_crop(t, [size, size])

    return _chunked(one, x) if x.ndim == 4 else one(x)


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Gray -> RGB by repeating the plane; RGB -> gray by ITU-R 601-2 luma (as PIL's ``"L"``)."""
    c = x.shape[-3]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.repeat_interleave(3, dim=-3)
    if c == 3 and channels == 1:

        def gray(t: torch.Tensor) -> torch.Tensor:
            return TF.rgb_to_grayscale(t, num_output_channels=1)

        return _chunked(gray, x) if x.ndim == 4 else gray(x)
    raise UserError(f"cannot convert {c}-channel images to {channels} channels; pass channels 1 or 3")


def conform(x: torch.Tensor, image_size: int | None, channels: int | None) -> torch.Tensor:
    """Apply the optional size / channel overrides to a uint8 ``N x C x H x W`` batch."""
    if channels is not None:
        x = convert_channels(x, channels)
    if image_size is not None:
        x = resize_square(x, image_size)
    return x.contiguous()


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and (population) std of uint8 images, in the [0, 1] range.

    Counting the 256 pixel values per channel is exact and needs no float copy of the
    data, unlike ``x.float().mean()`` which would cost 4x the dataset in memory.
    """
    if x.dtype != torch.uint8:
        raise TypeError(f"channel_stats expects uint8 images, got {x.dtype}")
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(x.shape[1]):
        counts = torch.bincount(x[:, c].reshape(-1), minlength=256).to(torch.float64)
        n = counts.sum()
        mean = float((counts * values).sum() / n)
        var = float((counts * values.square()).sum() / n) - mean * mean
        std = max(var, 0.0) ** 0.5
        if std < 1e-6:
            log.warning("channel %d of the train images is constant; using std 1 for it", c)
            std = 1.0
        means.append(mean)
        stds.append(std)
    return tuple(means), tuple(stds)


def normalize_uint8(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """``(x / 255 - mean) / std`` as float32 with a single full-size allocation."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return x.to(torch.float32).div_(255.0).sub_(m).div_(s)


def content_hash(*arrays: torch.Tensor) -> str:
    """SHA-256 over each tensor's dtype, shape and bytes, in order.

    Shapes are included so that e.g. a reshaped set cannot collide with the original.
    """
    h = hashlib.sha256()
    for a in arrays:
        a = a.detach().cpu().contiguous()
        h.update(f"{a.dtype}:{tuple(a.shape)};".encode())
        h.update(a.numpy())  # buffer protocol: no copy
    return h.hexdigest()
