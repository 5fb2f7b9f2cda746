"""Drive any StyleGAN-family network (NVlabs StyleGAN2/StyleGAN3, StyleGAN-XL, latentdd's ``sgen``)
as a :class:`~latentdd.priors.base.Prior`, split at a synthesis layer exactly as GLaD does.

The network is anything laid out like NVlabs' generators: an object ``G`` with
``G.mapping(z, c, truncation_psi=...) -> ws [B, num_ws, w_dim]``, ``G.z_dim``, ``G.c_dim`` (one-hot
class conditioning; 0 = unconditional) and ``G.synthesis`` in one of two layouts:

* **StyleGAN3 / StyleGAN-XL** (``synthesis.layer_names``): ``x = syn.input(ws[0])``, then each named
  layer in turn with the next ``w``, then ``x * syn.output_scale``.  Layer ``k`` is the input of
  ``layer_names[k]``: :meth:`StyleGANPrior.head` runs ``input`` and the first ``k`` layers with
  ``ws[0..k]``; :meth:`StyleGANPrior.tail` runs ``layer_names[k:]`` with ``ws[1+k:]``.
* **StyleGAN2** (``synthesis.block_resolutions``, blocks ``b4, b8, ...`` called
  ``x, img = block(x, img, block_ws)``): the first block (``b4``, whose input is a learned constant
  that cannot be replaced) plays the role of StyleGAN3's ``input``, so layer ``k`` is the input of
  block ``k + 1``.  The state between blocks is the pair ``(x, img)`` -- the skip architecture
  accumulates the image across blocks -- so the feature map is ``cat([x, img], dim=1)`` (``x``'s
  channels first, then the image channels; just ``x`` where the block has no image yet).

The per-image code GLaD learns is the whole w+ (``[B, num_ws, w_dim]``); the tail only reads the
entries of the layers after the split, the head the ones before.

Dataset fit: the output is resized to the dataset's size with antialiased bilinear interpolation
when the network's ``img_resolution`` differs (GLaD distills ImageNet subsets at 32-128 px from
generators trained at larger sizes), and an RGB network serves 1-channel data through the mean of
its channels.  Images are in ``(-1, 1)`` up to the network's own overshoot (NVlabs networks do not
clamp; neither does this adapter, so gradients never vanish at the bounds).

Rendering is deterministic: layers that take ``noise_mode`` get ``"const"`` (their stored noise)
outside training, and ``force_fp32=True`` where accepted, so the same ``(f, w)`` gives the same image.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import UserError
from ..base import Prior

#: GLaD samples its starts without truncation (``G.mapping(zs, labels)``, psi = 1): starts as diverse
#: as the generator's samples.  Pass ``truncation_psi=0.7`` for starts nearer each class centre.
DEFAULT_TRUNCATION = 1.0
#: GLaD's ``prepare_latents``: the initial feature map has NaN/inf replaced (+-5) and is clipped to +-10
START_CLIP = 10.0


def _accepted_kwargs(module: Any, wanted: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``wanted`` that ``module``'s ``forward`` accepts (all of it for ``**kwargs``)."""
    try:
        params = inspect.signature(module.forward if hasattr(module, "forward") else module).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(wanted)
    return {k: v for k, v in wanted.items() if k in params}


def synthesis_layout(G: Any) -> str:
    """``"sg3"`` (StyleGAN3 / StyleGAN-XL), ``"sg2"`` (StyleGAN2), or a :class:`UserError`."""
    syn = getattr(G, "synthesis", None)
    if syn is None or not hasattr(G, "mapping"):
        raise UserError(
            f"{type(G).__name__} is not a StyleGAN-family generator (it needs .mapping and .synthesis); "
            "wrap it yourself and pass it with --prior module:..."
        )
    if hasattr(syn, "layer_names") and hasattr(syn, "input"):
        return "sg3"
    if hasattr(syn, "block_resolutions"):
        return "sg2"
    raise UserError(
        f"the synthesis network {type(syn).__name__} has neither layer_names+input (StyleGAN3/XL) nor "
        "block_resolutions (StyleGAN2); latentdd cannot split it into head and tail"
    )


class StyleGANPrior(Prior):
    #: in training mode the synthesis layers draw noise from the global RNG (``noise_mode="random"``):
    #: the GAN trainer seeds it from its own generator around every forward pass
    draws_global_noise = True

    """A frozen StyleGAN-family network split at synthesis layer ``k`` (see the module docstring).

    ``num_classes`` defaults to ``G.c_dim`` for a class-conditional network and must be given for an
    unconditional one (which then ignores the labels).  ``class_map[i]`` is the network's class for
    the dataset's class ``i`` (ImageNet subsets on an ImageNet network, as in GLaD); without it
    dataset class ``i`` is network class ``i``.  ``image_size`` / ``image_channels`` are what the
    prior must produce (default: the network's own).
    """

    arch = "stylegan"

    def __init__(
        self,
        G: nn.Module,
        *,
        num_classes: int | None = None,
        image_size: int | None = None,
        image_channels: int | None = None,
        truncation_psi: float = DEFAULT_TRUNCATION,
        class_map: list[int] | None = None,
        force_fp32: bool = True,
    ) -> None:
        super().__init__()
        self.G = G
        self.layout = synthesis_layout(G)
        syn = G.synthesis
        self.c_dim = int(getattr(G, "c_dim", 0))
        self.latent_dim = int(G.z_dim)
        self.truncation_psi = float(truncation_psi)
        self.force_fp32 = bool(force_fp32)
        self.net_channels = int(getattr(G, "img_channels", getattr(syn, "img_channels", 3)))
        self.net_resolution = int(getattr(G, "img_resolution", getattr(syn, "img_resolution", 0)))
        self.image_size = int(image_size or self.net_resolution)
        self.image_channels = int(image_channels or self.net_channels)
        if self.image_channels != self.net_channels and self.image_channels != 1:
            raise UserError(
                f"the StyleGAN network makes {self.net_channels}-channel images and the dataset has "
                f"{self.image_channels} channels; only {self.net_channels}- or 1-channel data can use it"
            )
        if class_map is not None:
            class_map = [int(c) for c in class_map]
            if self.c_dim == 0:
                raise UserError("class_map given for an unconditional StyleGAN network (c_dim = 0)")
            bad = [c for c in class_map if not 0 <= c < self.c_dim]
            if bad:
                raise UserError(
                    f"class_map entries {bad} are not classes of the network (0 .. {self.c_dim - 1})"
                )
        self.class_map = class_map
        if num_classes is None:
            if self.c_dim == 0 and class_map is None:
                raise UserError("an unconditional StyleGAN network needs num_classes (the dataset's)")
            num_classes = len(class_map) if class_map is not None else self.c_dim
        self.num_classes = int(num_classes)
        if class_map is not None and len(class_map) != self.num_classes:
            raise UserError(f"class_map has {len(class_map)} entries for {self.num_classes} classes")
        self.register_buffer(
            "_class_index", torch.tensor(class_map or [], dtype=torch.long), persistent=False
        )
        if self.layout == "sg3":
            self._names = list(syn.layer_names)
            self._num_layers = len(self._names)
        else:
            self._names = [f"b{res}" for res in syn.block_resolutions]
            self._num_layers = len(self._names) - 1  # split after b4 .. before the last block
        if self._num_layers < 1:
            raise UserError(f"the synthesis network has too few layers ({len(self._names)}) to split")
        self._shapes: list[tuple[int, ...]] | None = None
        self._kwargs_cache: dict[type, tuple[str, ...]] = {}
        self._x_channels: list[int | None] = []  # SG2: channels of x inside the (x, img) feature map

    # -- helpers -------------------------------------------------------------------------------
    def _layer_kwargs(self, layer: Any) -> dict[str, Any]:
        wanted: dict[str, Any] = {"noise_mode": "random" if self.training else "const"}
        if self.force_fp32:
            wanted["force_fp32"] = True
        accepted = self._kwargs_cache.get(type(layer))
        if accepted is None:  # inspect each layer class once, not on every call
            accepted = self._kwargs_cache[type(layer)] = tuple(
                _accepted_kwargs(layer, dict.fromkeys(wanted, 0))
            )
        return {k: wanted[k] for k in accepted if k in wanted}

    def _onehot(self, labels: torch.Tensor) -> torch.Tensor:
        if self.c_dim == 0:
            return torch.zeros(labels.shape[0], 0, device=labels.device)
        classes = self._class_index[labels] if self.class_map is not None else labels
        return F.one_hot(classes.long(), self.c_dim).float()

    def _sg2_block_ws(self, ws: torch.Tensor) -> list[torch.Tensor]:
        out, w_idx = [], 0
        for name in self._names:
            block = getattr(self.G.synthesis, name)
            out.append(ws.narrow(1, w_idx, block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        return out

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        """Network output -> the dataset's channels and size."""
        x = x.float()
        if self.image_channels != x.shape[1]:
            x = x.mean(dim=1, keepdim=True)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(
                x,
                size=(self.image_size, self.image_size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
        return x

    # -- the Prior interface -------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return self._num_layers

    @property
    def num_ws(self) -> int:
        return int(self.G.synthesis.num_ws if hasattr(self.G.synthesis, "num_ws") else self.G.num_ws)

    def layer_shape(self, k: int) -> tuple[int, ...]:
        self.check_layer(k)
        if self._shapes is None:
            self._probe()
        assert self._shapes is not None
        return self._shapes[k]

    @torch.no_grad()
    def _probe(self) -> None:
        """One forward pass of a single sample records every split's feature shape (cached)."""
        was_training = self.training
        self.eval()
        try:
            device = next((t.device for t in self.G.parameters()), torch.device("cpu"))
            labels = torch.zeros(1, dtype=torch.long, device=device)
            w = self.map_latent(torch.zeros(1, self.latent_dim, device=device), labels)
            shapes, x_channels = [], []
            for k in range(self._num_layers):
                if self.layout == "sg2":
                    x, img = self._sg2_head(w, k)
                    x_channels.append(None if img is None else int(x.shape[1]))
                shapes.append(tuple(self.head(w, k).shape[1:]))
            self._shapes, self._x_channels = shapes, x_channels
        finally:
            self.train(was_training)

    def map_latent(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The mapping network's w+, truncated towards the mean by ``truncation_psi``."""
        return self._map(z, labels, self.truncation_psi)

    def _map(self, z: torch.Tensor, labels: torch.Tensor, psi: float) -> torch.Tensor:
        return self.G.mapping(z, self._onehot(labels).to(z.device), truncation_psi=psi).float()

    def start_features(self, w: torch.Tensor, k: int) -> torch.Tensor:
        """GLaD's start: the head's feature map with NaN/inf replaced and values clipped to +-10."""
        f = torch.nan_to_num(self.head(w, k), posinf=5.0, neginf=-5.0)
        return f.clamp(-START_CLIP, START_CLIP)

    def head(self, w: torch.Tensor, k: int) -> torch.Tensor:
        self.check_layer(k)
        syn = self.G.synthesis
        if self.layout == "sg3":
            ws = w.unbind(dim=1)
            x = syn.input(ws[0])
            for name, wi in zip(self._names[:k], ws[1 : 1 + k], strict=True):
                layer = getattr(syn, name)
                x = layer(x, wi, **self._layer_kwargs(layer))
            return x.float()
        x, img = self._sg2_head(w, k)
        return x.float() if img is None else torch.cat([x.float(), img.float()], dim=1)

    def _sg2_head(self, w: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """StyleGAN2: blocks ``0 .. k`` -> the ``(x, img)`` state entering block ``k + 1``."""
        x = img = None
        for name, bw in zip(self._names[: k + 1], self._sg2_block_ws(w)[: k + 1], strict=True):
            block = getattr(self.G.synthesis, name)
            x, img = block(x, img, bw, **self._layer_kwargs(block))
        assert x is not None
        return x, img

    def tail(self, f: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
        self.check_layer(k)
        syn = self.G.synthesis
        if self.layout == "sg3":
            x = f
            for name, wi in zip(self._names[k:], w.unbind(dim=1)[1 + k :], strict=False):
                layer = getattr(syn, name)
                x = layer(x, wi, **self._layer_kwargs(layer))
            scale = float(getattr(syn, "output_scale", 1.0))
            if scale != 1.0:
                x = x * scale
            return self._finish(x)
        if self._shapes is None:
            self._probe()
        x_channels = self._x_channels[k]
        x, img = (f, None) if x_channels is None else (f[:, :x_channels], f[:, x_channels:])
        for name, bw in zip(self._names[k + 1 :], self._sg2_block_ws(w)[k + 1 :], strict=True):
            block = getattr(syn, name)
            x, img = block(x, img, bw, **self._layer_kwargs(block))
        assert img is not None
        return self._finish(img)

    def config(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "z_dim": self.latent_dim,
            "c_dim": self.c_dim,
            "num_ws": self.num_ws,
            "net_resolution": self.net_resolution,
            "net_channels": self.net_channels,
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "image_channels": self.image_channels,
            "truncation_psi": self.truncation_psi,
            "class_map": self.class_map,
        }
