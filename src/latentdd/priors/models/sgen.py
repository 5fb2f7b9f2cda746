"""``sgen``: a small StyleGAN-style generator of latentdd's own, laid out like StyleGAN3 / StyleGAN-XL.

Why it exists: it lets the StyleGAN code path (:class:`~latentdd.priors.models.stylegan.StyleGANPrior`,
the same adapter that drives NVlabs pickles) be trained, tested and used on a CPU, with no
third-party code.  The network has the NVlabs attribute layout:

* ``G.mapping(z, c, truncation_psi=...)``: ``z`` and an embedding of the one-hot class ``c`` (each
  normalized to unit second moment, as in StyleGAN2) -> MLP -> ``w``, broadcast to ``num_ws``
  entries (w+).  ``lr_multiplier`` (0.01) is applied by :meth:`SGenPrior.optimizer_groups`: a slow
  mapping network keeps ``w`` from collapsing to one code early in training.  Truncation pulls
  ``w`` towards the mean ``w`` of its class (per-class centres, as StyleGAN-XL does for
  class-conditional models); the centres are computed by :meth:`SGenPrior.calibrate`.
* ``G.synthesis``: ``input(ws[0])`` (a linear projection of ``w`` to a 4x4 feature map, as in
  BigGAN and ``cgen``; StyleGAN3's Fourier-feature input plays the same role), then named layers
  ``L{i}_{res}_{channels}``, each a *modulated convolution* (per-sample input-channel styles from
  ``w``, weight demodulation, optional per-pixel noise, bias, scaled LeakyReLU), doubling the
  resolution until it reaches ``image_size`` (a power of two at or above it; StyleGAN's toRGB is
  the last named layer: a modulated 1x1 conv without demodulation, then ``tanh``).

Mode collapse: per-sample normalization collapsed ``cgen`` to one image on a CPU budget (see
:mod:`.conditional`).  Demodulation is per-sample too, but it rescales *weights* (an expected
value, not the sample's own statistics), so a sample's contrast and layout survive; together with
the 100x slower mapping network, random noise inputs during training and the trainer's
batch-norm projection discriminator (which sees whole batches) it kept MNIST samples varied.
Styles start near 1 (affine bias 1, small weights): early training behaves like a plain conv
generator, as in ``cgen``.

Images are made at the next power of two (32 px for MNIST's 28) and the adapter resizes them with
antialiased bilinear interpolation.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import PRIORS
from .stylegan import StyleGANPrior

#: starts nearer each class centre than GLaD's psi = 1: a small CPU-trained generator's tails are its
#: worst samples (the in-project choice since this generator landed; recorded in each prior file)
SGEN_TRUNCATION = 0.7


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """``(z, one-hot c) -> ws [B, num_ws, w_dim]`` with per-class truncation centres ``w_avg``."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 2,
        lr_multiplier: float = 0.01,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.lr_multiplier = lr_multiplier  # read by SGenPrior.optimizer_groups
        self.embed = nn.Linear(c_dim, w_dim) if c_dim > 0 else None
        layers: list[nn.Module] = []
        features = z_dim + (w_dim if c_dim > 0 else 0)
        for _ in range(num_layers):
            layers += [nn.Linear(features, w_dim), nn.LeakyReLU(0.2)]
            features = w_dim
        self.net = nn.Sequential(*layers)
        self.register_buffer("w_avg", torch.zeros(max(c_dim, 1), w_dim))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        x = normalize_2nd_moment(z.float())
        if self.embed is not None:
            x = torch.cat([x, normalize_2nd_moment(self.embed(c.float()))], dim=1)
        w = self.net(x)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1.0:
            centre = self.w_avg[c.argmax(dim=1)] if self.embed is not None else self.w_avg[:1]
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cut] = centre.unsqueeze(1).lerp(ws[:, :cut], truncation_psi)
        return ws


class SynthesisInput(nn.Module):
    """``w -> [B, channels, 4, 4]`` by a linear projection."""

    def __init__(self, w_dim: int, channels: int, size: int = 4) -> None:
        super().__init__()
        self.channels, self.size = channels, size
        self.proj = nn.Linear(w_dim, channels * size * size)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.proj(w).view(-1, self.channels, self.size, self.size)


class SynthesisLayer(nn.Module):
    """Modulated convolution (StyleGAN2): ``conv(x * s, W) * d`` with styles ``s = affine(w)`` and
    demodulation ``d = 1 / ||W * s||`` per output channel, then noise, bias and activation.

    Computed in the non-fused form (scale input, shared conv, scale output), which costs about one
    ordinary convolution -- cheaper on a CPU than StyleGAN's grouped convolution.
    """

    def __init__(
        self,
        w_dim: int,
        in_channels: int,
        out_channels: int,
        resolution: int,
        *,
        up: bool,
        kernel_size: int = 3,
        demodulate: bool = True,
        activation: bool = True,
        use_noise: bool = True,
    ) -> None:
        super().__init__()
        self.up, self.demodulate, self.activation = up, demodulate, activation
        self.padding = kernel_size // 2
        self.affine = nn.Linear(w_dim, in_channels)
        nn.init.normal_(self.affine.weight, std=0.1 / math.sqrt(w_dim))
        nn.init.ones_(self.affine.bias)
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size)
            / math.sqrt(in_channels * kernel_size**2)
        )
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.use_noise = use_noise
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        force_fp32: bool = False,
        update_emas: bool = False,
    ) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        styles = self.affine(w)
        x = F.conv2d(x * styles[:, :, None, None], self.weight, padding=self.padding)
        if self.demodulate:
            # sum_{i,kh,kw} (W[o,i,kh,kw] * s[b,i])^2 = (s^2) @ (sum_{kh,kw} W^2)^T
            d = (styles.square() @ self.weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()
            x = x * d[:, :, None, None]
        if self.use_noise and noise_mode != "none":
            noise = (
                torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device)
                if noise_mode == "random"
                else self.noise_const
            )
            x = x + noise * self.noise_strength
        x = x + self.bias[None, :, None, None]
        return F.leaky_relu(x, 0.2) * math.sqrt(2.0) if self.activation else torch.tanh(x)


class SynthesisNetwork(nn.Module):
    """StyleGAN3/XL layout: ``input``, ``layer_names`` (named layers), ``output_scale``, ``num_ws``."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channels: list[int],
        convs_per_res: int = 1,
        use_noise: bool = True,
    ) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.output_scale = 1.0  # the toRGB layer ends in tanh already
        self.input = SynthesisInput(w_dim, channels[0])
        self.layer_names: list[str] = []
        res = 4
        for k in range(len(channels) - 1):
            res *= 2
            for j in range(convs_per_res):
                cin = channels[k] if j == 0 else channels[k + 1]
                self._add(
                    SynthesisLayer(w_dim, cin, channels[k + 1], res, up=j == 0, use_noise=use_noise),
                    res,
                    channels[k + 1],
                )
        self._add(
            SynthesisLayer(
                w_dim,
                channels[-1],
                img_channels,
                res,
                up=False,
                kernel_size=1,
                demodulate=False,
                activation=False,
                use_noise=False,
            ),
            res,
            img_channels,
        )
        self.num_ws = 1 + len(self.layer_names)

    def _add(self, layer: nn.Module, res: int, channels: int) -> None:
        name = f"L{len(self.layer_names)}_{res}_{channels}"
        setattr(self, name, layer)
        self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, **layer_kwargs: Any) -> torch.Tensor:
        ws_list = ws.unbind(dim=1)
        x = self.input(ws_list[0])
        for name, w in zip(self.layer_names, ws_list[1:], strict=True):
            x = getattr(self, name)(x, w, **layer_kwargs)
        return x * self.output_scale if self.output_scale != 1 else x


class SGenNetwork(nn.Module):
    """``G`` with NVlabs' attributes: ``z_dim``, ``c_dim``, ``w_dim``, ``num_ws``, ``img_resolution``,
    ``img_channels``, ``mapping``, ``synthesis``."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channels: list[int],
        mapping_layers: int = 2,
        convs_per_res: int = 1,
        use_noise: bool = True,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(
            w_dim, img_resolution, img_channels, channels, convs_per_res, use_noise
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, mapping_layers)

    def forward(
        self, z: torch.Tensor, c: torch.Tensor, truncation_psi: float = 1.0, **layer_kwargs: Any
    ) -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi=truncation_psi), **layer_kwargs)


@PRIORS.register("sgen")
class SGenPrior(StyleGANPrior):
    """The ``sgen`` network driven by :class:`StyleGANPrior`; rebuildable from a prior file by its config."""

    arch = "sgen"

    def __init__(
        self,
        num_classes: int,
        image_channels: int,
        image_size: int = 32,
        latent_dim: int = 64,
        w_dim: int = 128,
        base_channels: int = 128,
        min_channels: int = 32,
        mapping_layers: int = 2,
        convs_per_res: int = 1,
        use_noise: bool = True,
        truncation_psi: float = SGEN_TRUNCATION,
    ) -> None:
        if image_size < 4:
            raise ValueError(f"image_size must be at least 4, got {image_size}")
        stages = max(1, math.ceil(math.log2(image_size / 4)))
        channels = [max(int(base_channels) >> k, int(min_channels)) for k in range(stages + 1)]
        G = SGenNetwork(
            int(latent_dim),
            int(num_classes),
            int(w_dim),
            4 * 2**stages,
            int(image_channels),
            channels,
            int(mapping_layers),
            int(convs_per_res),
            bool(use_noise),
        )
        super().__init__(
            G,
            num_classes=int(num_classes),
            image_size=int(image_size),
            image_channels=int(image_channels),
            truncation_psi=truncation_psi,
        )
        self._arch_config = {
            "num_classes": int(num_classes),
            "image_channels": int(image_channels),
            "image_size": int(image_size),
            "latent_dim": int(latent_dim),
            "w_dim": int(w_dim),
            "base_channels": int(base_channels),
            "min_channels": int(min_channels),
            "mapping_layers": int(mapping_layers),
            "convs_per_res": int(convs_per_res),
            "use_noise": bool(use_noise),
            "truncation_psi": float(truncation_psi),
        }

    def config(self) -> dict[str, Any]:
        return dict(self._arch_config)

    def map_latent(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """No truncation while the GAN trainer trains this network (``train()`` mode): truncation is
        a sampling trick, not part of the model, and the class centres do not exist yet."""
        return self._map(z, labels, 1.0 if self.training else self.truncation_psi)

    def optimizer_groups(self, lr: float) -> list[dict[str, Any]]:
        """The mapping network learns ``lr_multiplier`` (0.01) times slower, as in StyleGAN."""
        mapping = list(self.G.mapping.parameters())
        ids = {id(p) for p in mapping}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": rest, "lr": lr}, {"params": mapping, "lr": lr * self.G.mapping.lr_multiplier}]

    @torch.no_grad()
    def calibrate(self, generator: torch.Generator, batches: int = 8, batch_size: int = 64) -> None:
        """Set the per-class truncation centres ``w_avg`` to the exact mean ``w`` of each class over
        ``batches * batch_size`` random latents, then switch to ``eval()``.

        There is no batch norm to calibrate; this replaces StyleGAN's running average of ``w``
        during training, which the trainer's EMA copy of the weights would not have.
        """
        mapping = self.G.mapping
        device = mapping.w_avg.device
        n = max(batches * batch_size, self.num_classes)
        labels = torch.arange(n) % self.num_classes
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        w = mapping(z, F.one_hot(labels, mapping.c_dim).float().to(device), truncation_psi=1.0)[:, 0]
        sums = torch.zeros_like(mapping.w_avg).index_add_(0, labels.to(device), w)
        counts = torch.bincount(labels, minlength=self.num_classes).clamp(min=1).to(device)
        mapping.w_avg.copy_(sums / counts[:, None].float())
        self.eval()
