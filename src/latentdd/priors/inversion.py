"""GAN inversion: find the codes with which a generator draws given real images (IT-GAN's start).

GLaD starts every synthetic image from a class-conditional *sample* of the generator; with a prior
trained on a CPU those samples are blurry templates, and distillation must first walk from the
template to something informative.  Inverting real images instead starts the set where a pixel set
starts (on real images) while keeping the generator's parameterization:

1. ``w``: from the class-conditional mean code (the average of many ``map_latent`` samples of the
   class -- a safer start than one random sample), optimized so that ``G(w)`` reconstructs the image;
2. ``f`` (the layer-``k`` feature map): from ``head(w, k)``, optimized the same way with ``w`` fixed,
   which recovers detail that the low-dimensional ``w`` cannot express.

Loss: mean squared error in the prior's output range.  Adam, ``steps`` per stage, fixed learning
rate; everything but the random class-mean samples is deterministic.
"""

from __future__ import annotations

import torch

from ..seeding import make_generator
from .base import Prior

MEAN_SAMPLES = 64  # samples per class averaged into the starting code


@torch.no_grad()
def class_mean_codes(prior: Prior, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``w`` for each label: the mean of :data:`MEAN_SAMPLES` mapped samples of its class."""
    classes = labels.unique()
    device = labels.device
    rep = classes.repeat_interleave(MEAN_SAMPLES)
    z = prior.sample_latents(rep.cpu(), generator).to(device)
    w = prior.map_latent(z, rep)
    means = w.reshape(len(classes), MEAN_SAMPLES, *w.shape[1:]).mean(1)
    index = torch.searchsorted(classes, labels)
    return means[index].clone()


def _fit(param: torch.Tensor, render, target: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
    param = param.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([param], lr=lr)
    for _ in range(steps):
        loss = (render(param) - target).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return param.detach()


def invert(
    prior: Prior,
    images: torch.Tensor,
    labels: torch.Tensor,
    layer: int,
    *,
    steps: int = 200,
    lr: float = 0.05,
    seed: int = 0,
    chunk: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w, f)`` whose rendering ``tail(f, w, layer)`` approximates ``images`` (in ``output_range``).

    Processed in chunks of ``chunk`` images (memory flat in IPC); ``steps`` Adam steps for ``w``,
    then ``steps`` for ``f``.  The prior's weights are not changed."""
    layer = prior.check_layer(layer)
    requires = [p.requires_grad for p in prior.parameters()]
    prior.requires_grad_(False)
    generator = make_generator(seed)
    ws, fs = [], []
    try:
        start_w = class_mean_codes(prior, labels, generator)
        for x, w0 in zip(images.split(chunk), start_w.split(chunk), strict=True):
            w = _fit(w0, lambda w: prior.tail(prior.head(w, layer), w, layer), x, steps, lr)
            with torch.no_grad():
                f0 = prior.head(w, layer)
            f = _fit(f0, lambda f, w=w: prior.tail(f, w, layer), x, steps, lr)
            ws.append(w)
            fs.append(f)
    finally:
        for p, r in zip(prior.parameters(), requires, strict=True):
            p.requires_grad_(r)
    return torch.cat(ws), torch.cat(fs)
