"""ZCA whitening as MTT uses it (Cazenavette et al., CVPR 2022; from KIP).

MTT whitens CIFAR with ``kornia.enhance.ZCAWhitening(eps=0.1)`` fitted on the training
images in [0, 1] (``ToTensor`` without ``Normalize``), and applies the same transform to
the test images.  The regularization ``eps`` is added to the covariance eigenvalues, so
it depends on the pixel scale: to reproduce MTT exactly the fit here runs on the
*denormalized* [0, 1] images, and the dataset's per-channel normalization is folded
into the stored matrix, so the transform maps latentdd's normalized images directly:

    whitened = (x.flatten(1) - mean) @ transform

Whitening is treated as the networks' input layer: the images a run stores stay in the
normalized space (so grids look like images and a generator's output needs no change),
and whoever trains a network -- expert training, the MTT objective, evaluation --
whitens its inputs with the same transform.  The transform travels with the expert
buffer (``zca.safetensors``) and with the synthetic set (``zca_mean`` /
``zca_transform`` tensors), so test data is whitened exactly as the training data was.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from kornia.enhance import ZCAWhitening, linear_transform
from safetensors.torch import save_file

from ..errors import UserError
from ..fileio import atomic_write, read_safetensors
from .dataset import DatasetSplits, ImageDataset

#: MTT's ``K.enhance.ZCAWhitening(eps=0.1, compute_inv=True)``
ZCA_EPS = 0.1
KIND = "zca"
#: names of the tensors a synthetic set carries when it was distilled under ZCA
TENSOR_KEYS = ("zca_mean", "zca_transform")


@dataclass
class ZCA:
    """A fitted whitening ``w = (x.flatten(1) - mean) @ transform`` on normalized images.

    ``inverse`` (``transform``'s inverse) is needed only to step in whitened
    coordinates (:meth:`pull_back`); it is computed on demand when not given.
    """

    mean: torch.Tensor  # (D,)
    transform: torch.Tensor  # (D, D)
    inverse: torch.Tensor | None = None
    eps: float = ZCA_EPS

    @classmethod
    def fit(cls, train: ImageDataset, eps: float = ZCA_EPS, device: torch.device | str = "cpu") -> ZCA:
        """Fit on ``train``'s images as MTT does: on their [0, 1] pixels, regularization ``eps``."""
        x01 = train.denormalize(train.images.to(device)).flatten(1)
        k = ZCAWhitening(eps=float(eps), compute_inv=True).fit(x01)
        std = _per_pixel(train.std, train.images.shape[1:], device)
        offset = _per_pixel(train.mean, train.images.shape[1:], device)
        # (x * std + offset - mu) @ T  ==  (x - (mu - offset) / std) @ (diag(std) T)
        mean = (k.mean_vector.reshape(-1) - offset) / std
        transform = std[:, None] * k.transform_matrix
        inverse = k.transform_inv / std[None, :]
        return cls(mean.cpu(), transform.cpu(), inverse.cpu(), float(eps))

    @property
    def dim(self) -> int:
        return int(self.mean.numel())

    def to(self, device: torch.device | str) -> ZCA:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return ZCA(self.mean.to(device), self.transform.to(device), move(self.inverse), self.eps)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Whiten a batch ``N x C x H x W`` (differentiable; same shape out)."""
        if x[0].numel() != self.dim:
            raise UserError(
                f"the ZCA transform was fitted on images of {self.dim} values but got images of shape "
                f"{tuple(x.shape[1:])}; use the image size the transform was fitted at"
            )
        mean, transform = self.mean.to(x.device, x.dtype), self.transform.to(x.device, x.dtype)
        return linear_transform(x, transform, mean.reshape(1, -1), 0)

    def pull_back(self, grad_whitened: torch.Tensor) -> torch.Tensor:
        """The step direction on normalized images that moves their whitened version by
        ``grad_whitened``: ``grad_whitened @ inverse``.

        SGD (with momentum) on ``x`` driven by this direction takes exactly the steps that
        SGD on the whitened images takes in MTT, because the map is linear and invertible;
        so MTT's ZCA learning rates carry over to images stored unwhitened.  (The true
        gradient w.r.t. ``x``, ``grad_whitened @ transform.T``, would precondition every
        step by ``transform @ transform.T`` instead.)
        """
        if self.inverse is None:
            self.inverse = torch.linalg.inv(self.transform.double()).to(self.transform.dtype)
        inverse = self.inverse.to(grad_whitened.device, grad_whitened.dtype)
        return (grad_whitened.flatten(1) @ inverse).reshape(grad_whitened.shape)

    def backward(self, grad_whitened: torch.Tensor) -> torch.Tensor:
        """The gradient w.r.t. the unwhitened images, ``grad_whitened @ transform.T`` (the chain rule
        through :meth:`apply`).  This, not :meth:`pull_back`, is what a generator must receive when the
        images are decoded from a prior: there whitening is one more differentiable step after decoding,
        as in GLaD, and the optimizer steps in latent coordinates, not in whitened pixels."""
        transform = self.transform.to(grad_whitened.device, grad_whitened.dtype)
        return (grad_whitened.flatten(1) @ transform.T).reshape(grad_whitened.shape)

    def apply_dataset(self, ds: ImageDataset, chunk: int = 4096) -> ImageDataset:
        """``ds`` with whitened images (chunked: the D x D product of a whole set at once
        would double its memory)."""
        parts = [self.apply(ds.images[i : i + chunk]) for i in range(0, len(ds), chunk)]
        images = torch.cat(parts) if parts else ds.images
        return ImageDataset(images, ds.labels, list(ds.classes), ds.mean, ds.std, f"{ds.name}+zca")

    # -- persistence -------------------------------------------------------------
    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors saved with a synthetic set (``zca_mean``, ``zca_transform``)."""
        return {"zca_mean": self.mean.detach().cpu(), "zca_transform": self.transform.detach().cpu()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> ZCA | None:
        """The transform a synthetic set carries, or ``None`` when it was made without ZCA."""
        present = [k for k in TENSOR_KEYS if k in tensors]
        if not present:
            return None
        if len(present) != len(TENSOR_KEYS):
            raise UserError(f"the synthetic set has {present[0]} but not all of {TENSOR_KEYS}; it is damaged")
        return cls(tensors["zca_mean"].reshape(-1).float(), tensors["zca_transform"].float())

    def write(self, path: str | Path, meta: dict | None = None) -> None:
        """Write the file in place (callers publish it atomically: :meth:`save`, ``atomic_create``)."""
        tensors = {**self.to_tensors()}
        if self.inverse is not None:
            tensors["zca_inverse"] = self.inverse.detach().cpu().contiguous()
        metadata = {"latentdd_kind": KIND, "eps": repr(self.eps), "meta": json.dumps(meta or {})}
        save_file(tensors, str(path), metadata=metadata)

    def save(self, path: str | Path, meta: dict | None = None) -> None:
        atomic_write(path, lambda tmp: self.write(tmp, meta))

    @classmethod
    def load(cls, path: str | Path) -> ZCA:
        p = Path(path)
        tensors, metadata = read_safetensors(
            p, f"{str(p)!r} is not a readable ZCA file; delete it and fit again"
        )
        if metadata.get("latentdd_kind") != KIND:
            raise UserError(f"{str(p)!r} is not a ZCA file (kind {metadata.get('latentdd_kind')!r})")
        zca = cls.from_tensors(tensors)
        assert zca is not None
        return dataclasses.replace(
            zca, inverse=tensors.get("zca_inverse"), eps=float(metadata.get("eps", ZCA_EPS))
        )


def _per_pixel(values: tuple[float, ...], shape: torch.Size, device: torch.device | str) -> torch.Tensor:
    """Per-channel statistics expanded to the flattened C x H x W layout."""
    c, h, w = (int(s) for s in shape)
    return torch.tensor(values, dtype=torch.float32, device=device).view(c, 1, 1).expand(c, h, w).reshape(-1)


def whiten_splits(splits: DatasetSplits, zca: ZCA) -> DatasetSplits:
    """Both splits whitened with ``zca`` (fitted on the training split)."""
    return dataclasses.replace(
        splits, train=zca.apply_dataset(splits.train), test=zca.apply_dataset(splits.test)
    )


def whiten_for_evaluation(
    tensors: dict[str, torch.Tensor], images: torch.Tensor, splits: DatasetSplits
) -> tuple[torch.Tensor, DatasetSplits]:
    """For ``latentdd.api.evaluate``: when a synthetic set carries a ZCA transform (MTT with
    ``--zca``), whiten its images *and* both data splits with it (networks are trained and
    tested on whitened inputs, as in MTT; the random-real baseline then sees the same
    preprocessing).  Sets without one come back unchanged."""
    zca = ZCA.from_tensors(tensors)
    if zca is None:
        return images, splits
    with torch.no_grad():
        return zca.to(images.device).apply(images), whiten_splits(splits, zca)
