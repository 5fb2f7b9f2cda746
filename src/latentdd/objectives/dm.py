"""Distribution matching (Zhao & Bilen, WACV 2023).

Each iteration draws a freshly initialized network (never trained; weights frozen) and
matches, per class, the mean embedding of real and synthetic images under the same DSA
draw.  The reference code runs one small forward pass per class; here all classes share
one forward pass for the real batch and one for the synthetic batch, with per-class
means taken by ``index_add`` -- the same loss, far fewer kernel launches.  DSA's
siamese draw is kept per class: one transformation per class, applied to that class's
real and synthetic images (``groups`` = class index).
"""

from __future__ import annotations

import torch

from .base import OBJECTIVES, Objective, RealSampler


def class_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    sums = torch.zeros(num_classes, features.shape[1], dtype=features.dtype, device=features.device)
    sums.index_add_(0, labels, features)
    counts = torch.bincount(labels, minlength=num_classes).clamp_min(1).to(features.dtype)
    return sums / counts[:, None]


#: real images embedded per forward pass, in 32 x 32 equivalents: 1024 at 32 px (one pass for the
#: protocol's 10 x 64), 256 at 64 px, 64 at 128 px -- so peak memory does not grow with
#: classes x real batch at high resolution (10 x 64 images at 128 px took 12.2 GB in one pass).
REAL_CHUNK_PIXELS = 1024 * 32 * 32


def real_chunk(x: torch.Tensor, net: torch.nn.Module) -> int:
    """Images per pass; all of them for a batch-norm network (its statistics are the whole batch's)."""
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        return x.shape[0]
    return max(1, REAL_CHUNK_PIXELS // (x.shape[-1] * x.shape[-2]))


@OBJECTIVES.register("dm")
class DistributionMatching(Objective):
    name = "dm"

    def loss(
        self, real: RealSampler, syn: torch.Tensor, syn_labels: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        ctx = self.ctx
        net = ctx.fresh_model(generator).train().requires_grad_(False)
        real_x, real_y = real.per_class(ctx.cfg.batch_real, generator)
        params = ctx.dsa.sample_per_class(ctx.num_classes, generator, device=syn.device) if ctx.dsa else None
        if ctx.owned is not None:  # under torchrun: only this rank's classes (the draws above are shared)
            keep_real, keep_syn = ctx.owns(real_y), ctx.owns(syn_labels)
            real_x, real_y = real_x[keep_real], real_y[keep_real]
            syn, syn_labels = syn[keep_syn], syn_labels[keep_syn]
        if params is not None:
            real_x = ctx.dsa.apply(real_x, params, groups=real_y)
            syn = ctx.dsa.apply(syn, params, groups=syn_labels)
        with torch.no_grad():  # no graph for real images: embed them in bounded chunks
            feats = torch.cat([ctx.embed(net, part) for part in real_x.split(real_chunk(real_x, net))])
            real_mean = class_means(feats, real_y, ctx.num_classes)
        syn_mean = class_means(ctx.embed(net, syn), syn_labels, ctx.num_classes)
        present = torch.bincount(syn_labels, minlength=ctx.num_classes) > 0
        return ((real_mean - syn_mean)[present] ** 2).sum()
