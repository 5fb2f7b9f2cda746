"""The decoder of a diffusers ``AutoencoderKL`` (Stable Diffusion's VAE) as a prior.

Latent-diffusion distillation learns images in a VAE's latent space rather than in pixels: the
frozen decoder keeps the images on the autoencoder's manifold, the way GLaD's GAN prior does,
but with a generator trained on far more data and not tied to the dataset's classes.

Layers (``--layer k``), for a VAE with ``n`` up blocks (``len(block_out_channels)``):

* ``k = 0``: the VAE latent itself, ``latent_channels x H/f x W/f`` (``f = 2 ** (n - 1)``),
  multiplied by ``scaling_factor`` (after subtracting ``shift_factor``) the way latent diffusion
  does, so the learnable tensor is unit-scale like the diffusion model's inputs;
* ``k = 1``: after ``post_quant_conv``, ``conv_in`` and the mid block (attention at ``H/f``);
* ``k = 1 + i`` for ``i = 1 .. n``: after up block ``i - 1``.

The tail of every split ends with ``conv_norm_out``, ``conv_act`` and ``conv_out``, exactly as
``diffusers``' ``Decoder.forward``, so ``tail(head(w, k), w, k) == vae.decode(z).sample``.

diffusers is optional: this module only needs torch and an object shaped like ``AutoencoderKL``;
:func:`require_diffusers` imports the package on demand with a one-line install hint.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ...errors import UserError
from ..base import Prior

if TYPE_CHECKING:  # pragma: no cover - typing only
    from diffusers import AutoencoderKL

ARCH = "autoencoder-kl"
MISSING_DIFFUSERS = "the diffusers prior needs the diffusers package: pip install 'latentdd[diffusers]'"


def require_diffusers() -> type[AutoencoderKL]:
    """Import ``diffusers.AutoencoderKL`` now, so ``import latentdd`` never needs diffusers."""
    try:
        from diffusers import AutoencoderKL
    except ImportError as e:
        raise UserError(MISSING_DIFFUSERS) from e
    return AutoencoderKL


def _jsonable(value: Any) -> Any:
    """The VAE config as plain JSON (it goes into each run's provenance record)."""
    return json.loads(json.dumps(dict(value), default=str))


class AutoencoderKLPrior(Prior):
    """A frozen ``AutoencoderKL`` whose decoder renders the synthetic images.

    The VAE is unconditional and has no style code, so there is nothing for ``w`` to steer.
    ``w`` nevertheless carries the (scaled) latent, shaped ``B x 1 x latent_dim``: LatentSet
    builds ``f = head(map_latent(z), k)`` from ``w`` alone, so an empty code could not give
    ``head`` its input.  ``tail`` ignores ``w``; it gets no gradient and keeps the starting
    latent (``latent_w`` in the synthetic set), which costs ``latent_dim`` floats per image.

    Dataset fit: a 1-channel dataset gets the mean of the decoder's RGB output (gray images are
    replicated to RGB for the encoder); an image size that is not a multiple of the VAE's
    downsampling factor is decoded at the next multiple and resized (antialiased bilinear), and
    resized up before encoding.  Outputs are not clamped, so gradients survive out-of-range pixels.
    """

    arch = ARCH
    output_range = (-1.0, 1.0)

    def __init__(self, vae: AutoencoderKL, num_classes: int, image_channels: int, image_size: int) -> None:
        super().__init__()
        cfg = vae.config
        self.vae = vae.eval().requires_grad_(False)
        self.num_classes = int(num_classes)
        self.image_channels = int(image_channels)
        self.image_size = int(image_size)
        self.block_out_channels = tuple(int(c) for c in cfg.block_out_channels)
        self.latent_channels = int(cfg.latent_channels)
        self.scaling_factor = float(cfg.scaling_factor)
        self.shift_factor = float(cfg.shift_factor or 0.0)
        self.vae_in_channels = int(cfg.in_channels)
        self.vae_out_channels = int(cfg.out_channels)
        self.factor = 2 ** (len(self.block_out_channels) - 1)
        self.decode_size = -(-self.image_size // self.factor) * self.factor
        self.latent_size = self.decode_size // self.factor
        self.latent_dim = self.latent_channels * self.latent_size**2
        for have, want, what in (
            (self.vae_out_channels, self.image_channels, "decoder output"),
            (self.vae_in_channels, self.image_channels, "encoder input"),
        ):
            if have != want and 1 not in (have, want):
                raise UserError(
                    f"the VAE's {what} has {have} channels and the dataset {want}; only equal counts or "
                    "gray/colour pairs (1 and 3) can be converted -- use a VAE made for this data"
                )

    # -- shapes -------------------------------------------------------------------------------

    @property
    def num_layers(self) -> int:
        return 2 + len(self.vae.decoder.up_blocks)

    def layer_shape(self, k: int) -> tuple[int, ...]:
        k = self.check_layer(k)
        s = self.latent_size
        if k == 0:
            return (self.latent_channels, s, s)
        if k == 1:
            return (self.block_out_channels[-1], s, s)
        # up block i (0-based) outputs reversed(block_out_channels)[i] channels and doubles
        # the size unless it is the last one
        i = k - 2
        n = len(self.block_out_channels)
        return (self.block_out_channels[::-1][i], s * 2 ** min(i + 1, n - 1), s * 2 ** min(i + 1, n - 1))

    # -- latents ------------------------------------------------------------------------------

    def sample_latents(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Standard normal latents: after scaling, a VAE latent is roughly unit-scale, which is
        also what a latent diffusion model starts from."""
        return torch.randn(labels.shape[0], self.latent_dim, generator=generator).to(labels.device)

    def map_latent(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``w`` is the latent itself (see the class docstring); labels are ignored."""
        return z.reshape(z.shape[0], 1, self.latent_dim)

    # -- the decoder, split ---------------------------------------------------------------------

    def _stage(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Layer ``i``'s feature map to layer ``i + 1``'s, following ``Decoder.forward``."""
        dec = self.vae.decoder
        if i == 0:
            z = x / self.scaling_factor + self.shift_factor
            if getattr(self.vae, "post_quant_conv", None) is not None:
                z = self.vae.post_quant_conv(z)
            # latent_embeds is None for AutoencoderKL (only spatially-normed decoders use it)
            x = dec.mid_block(dec.conv_in(z), None)
            # older diffusers cast to the up blocks' dtype here (mixed-precision VAEs); a no-op
            # in float32, and it keeps split decoding equal to decode() when it is not
            return x.to(next(iter(dec.up_blocks.parameters())).dtype)
        return dec.up_blocks[i - 1](x, None)

    def advance(self, f: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
        return self._stage(f, self.check_layer(k))

    def head(self, w: torch.Tensor, k: int) -> torch.Tensor:
        k = self.check_layer(k)
        x = w.reshape(w.shape[0], *self.layer_shape(0))
        for i in range(k):
            x = self._stage(x, i)
        return x

    def tail(self, f: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
        k = self.check_layer(k)
        x = f
        for i in range(k, self.num_layers - 1):
            x = self._stage(x, i)
        dec = self.vae.decoder
        x = dec.conv_out(dec.conv_act(dec.conv_norm_out(x)))
        return self._fit_to_dataset(x)

    def _fit_to_dataset(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.image_channels:
            x = (
                x.mean(1, keepdim=True)
                if self.image_channels == 1
                else x.expand(-1, self.image_channels, -1, -1)
            )
        if self.decode_size != self.image_size:
            x = F.interpolate(
                x,
                size=(self.image_size, self.image_size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        return x

    def _fit_to_vae(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] != self.vae_in_channels:
            images = (
                images.expand(-1, self.vae_in_channels, -1, -1)
                if images.shape[1] == 1
                else images.mean(1, keepdim=True)
            )
        if self.decode_size != self.image_size:
            images = F.interpolate(
                images,
                size=(self.decode_size, self.decode_size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        return images

    # -- initialization from real images ------------------------------------------------------------

    @torch.no_grad()
    def encode(self, images: torch.Tensor, *, chunk: int = 64) -> torch.Tensor:
        """Scaled latents (``B x latent_channels x h x w``) of images in ``output_range``: the
        posterior mode, which is deterministic, so a seeded run stays reproducible."""
        want = (self.image_channels, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != want:
            raise ValueError(
                f"expected images of shape N x {' x '.join(map(str, want))}, got {tuple(images.shape)}"
            )
        param = next(iter(self.vae.parameters()))
        out = []
        for part in images.split(max(1, int(chunk))):
            x = self._fit_to_vae(part.to(device=param.device, dtype=param.dtype))
            z = self.vae.encode(x).latent_dist.mode()
            out.append((z - self.shift_factor) * self.scaling_factor)
        return torch.cat(out)

    @torch.no_grad()
    def init_from_images(
        self, images: torch.Tensor, labels: torch.Tensor, k: int, *, chunk: int = 64
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(w, f)`` for real ``images`` (N x C x H x W in ``output_range``), split at layer ``k``.

        Latent-diffusion distillation starts from encoded real images: the decoder then
        reproduces them closely, so the set starts near the data rather than near noise.
        Labels are unused (the VAE is unconditional) but accepted for the prior interface.
        """
        k = self.check_layer(k)
        z = self.encode(images, chunk=chunk)
        w = z.reshape(z.shape[0], 1, self.latent_dim)
        f = torch.cat([self.head(part, k) for part in w.split(max(1, int(chunk)))])
        return w, f

    # -- description ------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """What the prior is: the VAE's own config plus how it was fitted to the dataset.

        Not enough to rebuild it without the weights -- these priors are not written as latentdd
        prior files; the provenance record says where the weights came from."""
        return {
            "vae": _jsonable(self.vae.config),
            "num_classes": self.num_classes,
            "image_channels": self.image_channels,
            "image_size": self.image_size,
            "decode_size": self.decode_size,
            "downsampling_factor": self.factor,
            "layers": [list(self.layer_shape(k)) for k in range(self.num_layers)],
        }
