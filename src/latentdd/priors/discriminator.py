"""Conditional projection discriminator (Miyato & Koyama, 2018) with spectral norm.

Used only to train :mod:`conditional` priors; it is never saved into a prior file.  The class
enters through the projection term ``<embed(y), h>`` rather than as an input channel, which is
what makes class-conditional GANs produce class-correct samples quickly.  A minibatch-stddev
feature (Karras et al., PGGAN) lets it see how varied a batch is: without it our short CPU runs
collapsed to one image per class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one channel: the feature std across groups of ``group_size`` samples (StyleGAN2's layer)."""
    b, c, h, w = x.shape
    g = group_size if b % group_size == 0 else b
    y = x.view(g, b // g, c, h, w)
    std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # b // g values
    return torch.cat([x, std.view(1, -1, 1, 1, 1).expand(g, -1, 1, h, w).reshape(b, 1, h, w)], dim=1)


class ProjectionDiscriminator(nn.Module):
    """Stride-2 4x4 convs (DCGAN-style, doubling width) down to <= 4 px -> minibatch std -> conv3x3
    -> sum-pool -> linear + class projection.

    Downsampling from the first layer keeps the cost low enough for CPU training while the width
    gives the discriminator enough capacity to tell the classes apart.
    """

    def __init__(self, num_classes: int, image_channels: int, image_size: int, base_channels: int = 64) -> None:
        super().__init__()
        ch = base_channels
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(image_channels, ch, 4, stride=2, padding=1))]
        size = image_size // 2
        while size > 4:
            layers.append(spectral_norm(nn.Conv2d(ch, min(2 * ch, 8 * base_channels), 4, stride=2, padding=1)))
            ch = min(2 * ch, 8 * base_channels)
            size //= 2
        self.convs = nn.ModuleList(layers)
        self.final = spectral_norm(nn.Conv2d(ch + 1, ch, 3, padding=1))
        self.linear = spectral_norm(nn.Linear(ch, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, ch))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
        x = F.leaky_relu(self.final(minibatch_stddev(x)), 0.1)
        h = x.sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)
