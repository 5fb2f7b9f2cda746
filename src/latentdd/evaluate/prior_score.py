"""How good is a prior?  Four numbers instead of a look at its sample grid (``latentdd prior score``).

* **CAS** (classification accuracy score, Ravuri & Vinyals 2019): a ConvNet trained on ``per_class``
  generated images per class, tested on the real test set -- beside the same ConvNet, same seeds,
  trained on ``per_class`` random *real* images per class.  A prior whose samples are wrong, or all
  alike, trains a worse classifier than real images do.
* **Fréchet distance** between real and generated images in the embedding of a ConvNet trained on
  the real training data in-project (no downloaded Inception weights; the network is cached per
  dataset in ``$LATENTDD_CACHE/embedders``).  Lower is closer.
* **Diversity**: the mean pairwise embedding distance between samples of one class, averaged over
  classes, for generated and for real images.  Mode collapse shows as a ratio far below 1.
* **Saturation**: the share of pixels within 2 % of the output bounds (a blob of pure black and
  white scores high; natural CIFAR-10 images about 3 %).

Everything is seeded; the figures name their sample counts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..data.dataset import DatasetSplits, ImageDataset
from ..errors import UserError
from ..fileio import atomic_write
from ..nets import create_model
from ..paths import user_cache_dir
from ..priors.base import Prior
from ..seeding import make_generator
from .baseline import random_real_subset
from .metrics import summarize
from .protocols import EvalProtocol
from .train import fit_network, measure_accuracy, train_and_test

#: pixels closer than this (as a fraction of the output range) to a bound count as saturated
SATURATION_MARGIN = 0.02


@dataclass(frozen=True)
class ScoreSettings:
    """What a score is measured with; recorded beside the figures."""

    cas_per_class: int = 10
    cas_runs: int = 2
    cas_epochs: int = 100
    feature_per_class: int = 100
    embedder_per_class: int = 500
    embedder_epochs: int = 10
    embedder_width: int = 64
    seed: int = 0


def saturated_fraction(images01: torch.Tensor) -> float:
    """Share of pixel values within :data:`SATURATION_MARGIN` of 0 or 1 (images in [0, 1])."""
    x = images01.float()
    return float(((x <= SATURATION_MARGIN) | (x >= 1.0 - SATURATION_MARGIN)).float().mean())


@torch.no_grad()
def generate(
    prior: Prior, labels: torch.Tensor, data: ImageDataset, seed: int, chunk: int = 128
) -> torch.Tensor:
    """Class-conditional samples of ``prior`` for ``labels``, normalized like ``data``'s images."""
    device = next(iter(prior.buffers()), next(prior.parameters())).device
    z = prior.sample_latents(labels, make_generator(seed))
    lo, hi = prior.output_range
    out = []
    for zs, ys in zip(z.split(chunk), labels.split(chunk), strict=True):
        x01 = (prior(zs.to(device), ys.to(device)).cpu() - lo) / (hi - lo)
        out.append(data.normalize(x01))
    return torch.cat(out)


def _embedder_protocol(settings: ScoreSettings) -> EvalProtocol:
    return EvalProtocol(
        "embedder",
        epochs=settings.embedder_epochs,
        runs=1,
        batch_size=128,
        dsa_strategy="none",
        models=["convnet"],
        description="feature network for prior scores",
    )


def feature_network(
    splits: DatasetSplits, settings: ScoreSettings, device: torch.device | str = "cpu"
) -> nn.Module:
    """A ConvNet trained on the real training data (cached by dataset and settings): the embedding
    in which Fréchet distance and diversity are measured."""
    train = splits.train
    kwargs = {"width": settings.embedder_width}
    key = json.dumps(
        {
            "dataset": splits.info.get("sha256") or train.name,
            "n": len(train),
            "per_class": settings.embedder_per_class,
            "epochs": settings.embedder_epochs,
            "model": kwargs,
            "seed": settings.seed,
            "size": list(train.image_size),
        },
        sort_keys=True,
    )
    path = user_cache_dir() / "embedders" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.safetensors"
    if path.is_file():
        state = load_file(str(path))
        model = create_model("convnet", train.channels, train.num_classes, tuple(train.image_size), **kwargs)
        model.load_state_dict(state)
        return model.to(device).eval()
    per_class = min(settings.embedder_per_class, min(train.class_counts()))
    images, labels = random_real_subset(train, per_class, make_generator(settings.seed))
    model, _, _ = fit_network(
        "convnet",
        images,
        labels,
        splits.test,
        protocol=_embedder_protocol(settings),
        seed=settings.seed,
        dsa=None,
        device=device,
        model_kwargs=kwargs,
    )
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata={"key": key}))
    return model.eval()


@torch.no_grad()
def embed(model: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.cat([model.embed(part.to(device)).flatten(1).double().cpu() for part in images.split(512)])


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2)`` of two feature sets (rows).

    The trace of the matrix square root is computed from the eigenvalues of the symmetric matrix
    ``S_a^1/2 S_b S_a^1/2`` (same spectrum as ``S_a S_b``), which needs no scipy."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    evals, evecs = torch.linalg.eigh(cov_a)
    root_a = evecs @ torch.diag(evals.clamp_min(0).sqrt()) @ evecs.T
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * middle)


def class_diversity(features: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean pairwise Euclidean distance within each class, averaged over classes."""
    per_class = []
    for c in labels.unique():
        f = features[labels == c]
        if f.shape[0] < 2:
            continue
        d = torch.cdist(f, f)
        per_class.append(float(d.sum() / (f.shape[0] * (f.shape[0] - 1))))
    return sum(per_class) / max(len(per_class), 1)


def _cas(
    images: torch.Tensor,
    labels: torch.Tensor,
    splits: DatasetSplits,
    settings: ScoreSettings,
    device: torch.device | str,
) -> list[float]:
    protocol = EvalProtocol("cas", epochs=settings.cas_epochs, runs=settings.cas_runs, models=["convnet"])
    dsa = protocol.make_dsa(digits=splits.digits)  # no flips for digits, as in evaluation
    return [
        train_and_test(
            "convnet",
            images,
            labels,
            splits.test,
            protocol=protocol,
            seed=settings.seed + r,
            dsa=dsa,
            device=device,
        ).accuracy
        for r in range(settings.cas_runs)
    ]


def score_prior(
    prior: Prior,
    splits: DatasetSplits,
    settings: ScoreSettings | None = None,
    *,
    device: torch.device | str = "cpu",
    cas: bool = True,
) -> dict[str, Any]:
    """All four scores of ``prior`` against ``splits`` (``cas=False`` skips the slow one)."""
    settings = settings or ScoreSettings()
    train, test = splits.train, splits.test
    prior = prior.to(device).eval()
    k = min(settings.feature_per_class, min(train.class_counts()))
    labels = torch.arange(train.num_classes).repeat_interleave(k)
    fake = generate(prior, labels, train, settings.seed)
    real, real_labels = random_real_subset(train, k, make_generator(settings.seed + 1))
    net = feature_network(splits, settings, device)
    f_fake, f_real = embed(net, fake, device), embed(net, real, device)
    div_fake, div_real = class_diversity(f_fake, labels), class_diversity(f_real, real_labels)
    out: dict[str, Any] = {
        "settings": dataclasses.asdict(settings),
        "samples_per_class": k,
        "embedder_test_accuracy": measure_accuracy(net, test, device)[0],
        "frechet_distance": frechet_distance(f_real, f_fake),
        "diversity": {"generated": div_fake, "real": div_real, "ratio": div_fake / max(div_real, 1e-12)},
        "saturation": {
            "generated": saturated_fraction(train.denormalize(fake)),
            "real": saturated_fraction(train.denormalize(real)),
        },
    }
    if cas:
        n = settings.cas_per_class
        if n > min(train.class_counts()):
            raise UserError(
                f"--cas-per-class {n} is more than the smallest class has ({min(train.class_counts())}); lower it"
            )
        cas_labels = torch.arange(train.num_classes).repeat_interleave(n)
        gen_images = generate(prior, cas_labels, train, settings.seed + 2)
        real_images, real_cas_labels = random_real_subset(train, n, make_generator(settings.seed + 3))
        generated = summarize(_cas(gen_images, cas_labels, splits, settings, device))
        real_fig = summarize(_cas(real_images, real_cas_labels, splits, settings, device))
        out["cas"] = {
            "per_class": n,
            "generated": generated,
            "real": real_fig,
            "ratio": generated["mean"] / max(real_fig["mean"], 1e-12),
        }
    return out


def format_scores(scores: dict[str, Any]) -> str:
    """The scores as a few aligned lines (what ``latentdd prior score`` prints)."""
    s = scores
    lines = [
        f"Fréchet distance      {s['frechet_distance']:.2f}  (embedding: ConvNet trained on real data, "
        f"{s['embedder_test_accuracy']:.1f} % test accuracy; {s['samples_per_class']} images per class)",
        f"diversity             generated {s['diversity']['generated']:.3f} vs real {s['diversity']['real']:.3f} "
        f"(ratio {s['diversity']['ratio']:.2f})",
        f"saturated pixels      generated {100 * s['saturation']['generated']:.1f} % vs real "
        f"{100 * s['saturation']['real']:.1f} %",
    ]
    if "cas" in s:
        c = s["cas"]
        lines.insert(
            0,
            f"CAS ({c['per_class']}/class) generated {c['generated']['mean']:.1f} ± {c['generated']['std']:.1f}"
            f" vs real {c['real']['mean']:.1f} ± {c['real']['std']:.1f} % (ratio {c['ratio']:.2f}; "
            f"ConvNet, {s['settings']['cas_epochs']} epochs, seeds "
            f"{s['settings']['seed']}..{s['settings']['seed'] + s['settings']['cas_runs'] - 1})",
        )
    return "\n".join(lines)
