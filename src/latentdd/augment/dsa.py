"""Differentiable Siamese Augmentation (DSA; Zhao & Bilen, ICML 2021).

DSA augments the real and the synthetic batch with the *same* random transformation
so that matching gradients or embeddings compares like with like, and keeps the
transformation differentiable so the loss reaches the synthetic pixels (or latents).
As in the reference's single mode (``aug_mode='S'``) every draw picks one family of the
strategy uniformly and samples its parameters.

The reference re-seeds the global RNG from the clock once per class to repeat a draw;
here a draw is a :class:`DSAParams` value made from a passed ``torch.Generator``:
``draws = dsa.sample_per_class(num_classes, g)`` draws one family and one row per class
(the reference's per-class draw) and ``dsa.apply(x, draws, groups=labels)`` gives image
``i`` the family and row of its class -- one batched call per family replaces the
reference's per-class loop, with the same pairing.  ``dsa.sample(n, g)`` draws one family
for all ``n`` rows, as the reference does per training batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UserError
from .families import FAMILIES, DSASettings, Family

DEFAULT_STRATEGY = "color_crop_cutout_flip_scale_rotate"


@dataclass
class DSAParams:
    """One draw: the chosen family and its ``n`` parameter rows.

    Each tensor in ``values`` has first dimension ``n``.  Integer pixel parameters
    (``crop``'s ``shift_h``/``shift_w``, ``cutout``'s ``center_h``/``center_w``) are stored
    as integers when the image size was given to :meth:`DSA.sample`, else as unit draws
    under ``u_<name>`` that :meth:`DSA.apply` resolves for the image it transforms (the
    same integers either way).
    """

    family: str
    values: dict[str, torch.Tensor]

    @property
    def n(self) -> int:
        return int(next(iter(self.values.values())).shape[0])

    def to(self, device: torch.device | str) -> DSAParams:
        return DSAParams(self.family, {k: v.to(device) for k, v in self.values.items()})


@dataclass
class ClassDraws:
    """One draw per class, as the reference makes it: each of the ``n`` rows picks its own family
    (``choice[i]`` indexes ``families``) and its own parameters (``parts[family]`` holds ``n`` rows of
    that family's parameters; a row uses only the family it picked)."""

    families: list[str]
    choice: torch.Tensor  # (n,) long
    parts: dict[str, DSAParams]

    @property
    def n(self) -> int:
        return int(self.choice.shape[0])

    def row(self, i: int) -> DSAParams:
        """Row ``i`` alone: its family and its parameters (a one-row :class:`DSAParams`)."""
        family = self.families[int(self.choice[i])]
        return DSAParams(family, {k: v[i : i + 1] for k, v in self.parts[family].values.items()})

    def to(self, device: torch.device | str) -> ClassDraws:
        return ClassDraws(
            self.families, self.choice.to(device), {f: p.to(device) for f, p in self.parts.items()}
        )


class DSA:
    """A DSA strategy: ``"color_crop_cutout_flip_scale_rotate"`` or any ``_``-joined subset
    of :data:`~latentdd.augment.families.FAMILIES`; ``"none"``/``""`` disables it.

    ``flip=False`` drops ``flip`` (digits must not be mirrored).  The magnitudes default
    to the reference's ``ParamDiffAug``.
    """

    def __init__(
        self,
        strategy: str = DEFAULT_STRATEGY,
        *,
        flip: bool = True,
        crop_ratio: float = 0.125,
        cutout_ratio: float = 0.5,
        scale_ratio: float = 1.2,
        rotate_degrees: float = 15.0,
        brightness: float = 1.0,
        saturation: float = 2.0,
        contrast: float = 0.5,
    ) -> None:
        self.strategy = strategy
        self.settings = DSASettings(
            crop_ratio=crop_ratio,
            cutout_ratio=cutout_ratio,
            scale_ratio=scale_ratio,
            rotate_degrees=rotate_degrees,
            brightness=brightness,
            saturation=saturation,
            contrast=contrast,
        )
        tokens = [] if strategy.strip().lower() in ("", "none") else strategy.lower().split("_")
        for token in tokens:
            if token not in FAMILIES:
                raise UserError(
                    f"unknown DSA augmentation {token!r} in strategy {strategy!r}; use '_'-joined names "
                    f"from: {', '.join(FAMILIES.names())} (e.g. {DEFAULT_STRATEGY!r}), or 'none'"
                )
        self.families: list[str] = [t for t in tokens if flip or t != "flip"]
        self._impl: dict[str, Family] = {f: FAMILIES.create(f, self.settings) for f in self.families}

    @property
    def enabled(self) -> bool:
        return bool(self.families)

    def __repr__(self) -> str:
        return f"DSA(families={self.families})"

    def sample(
        self,
        n: int,
        generator: torch.Generator,
        device: torch.device | str | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> DSAParams | None:
        """Pick ONE family uniformly (from ``generator``) and draw ``n`` parameter rows for it.

        Returns None when the strategy is disabled.  The values live on ``device``
        (default: the generator's device)."""
        if not self.enabled:
            return None
        pick = int(torch.randint(len(self.families), (1,), generator=generator, device=generator.device))
        family = self.families[pick]
        size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        values = self._impl[family].sample(n, generator, size)
        params = DSAParams(family, values)
        return params if device is None else params.to(device)

    def sample_per_class(
        self, num_classes: int, generator: torch.Generator, device: torch.device | str | None = None
    ) -> ClassDraws | None:
        """One family and one parameter row per class, as the reference draws them (it re-seeds and
        calls DiffAugment once per class, so the family differs between classes of one iteration).
        Apply with ``groups=labels``; all classes still go through one batched call per family."""
        if not self.enabled:
            return None
        choice = torch.randint(
            len(self.families), (num_classes,), generator=generator, device=generator.device
        )
        parts = {f: DSAParams(f, self._impl[f].sample(num_classes, generator, None)) for f in self.families}
        draws = ClassDraws(list(self.families), choice, parts)
        return draws if device is None else draws.to(device)

    def apply(
        self, x: torch.Tensor, params: DSAParams | ClassDraws | None, groups: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Apply ``params`` to ``x`` (``B x C x H x W``); image ``i`` uses row ``groups[i]``
        (default: row ``i``).  Differentiable w.r.t. ``x``; ``params=None`` returns ``x``."""
        if params is None:
            return x
        if x.dim() != 4:
            raise ValueError(f"DSA expects a B x C x H x W batch, got shape {tuple(x.shape)}")
        if isinstance(params, ClassDraws):
            return self._apply_per_class(x, params, groups)
        if params.family not in self._impl:
            raise ValueError(f"params of family {params.family!r} do not belong to {self!r}")
        if groups is None:
            if params.n != x.shape[0]:
                raise ValueError(f"{params.n} parameter rows for {x.shape[0]} images; pass groups=")
            rows = {k: v.to(x.device) for k, v in params.values.items()}
        else:
            if groups.shape != (x.shape[0],):
                raise ValueError(f"groups must have shape ({x.shape[0]},), got {tuple(groups.shape)}")
            idx = groups.to(device=x.device, dtype=torch.long)
            rows = {k: v.to(x.device)[idx] for k, v in params.values.items()}
        return self._impl[params.family].apply(x, rows)

    def _apply_per_class(
        self, x: torch.Tensor, draws: ClassDraws, groups: torch.Tensor | None
    ) -> torch.Tensor:
        """Each family on the images whose row picked it (one batched call per family present), then
        the pieces back in input order (a differentiable gather)."""
        rows = (
            torch.arange(x.shape[0], device=x.device) if groups is None else groups.to(x.device, torch.long)
        )
        if rows.shape != (x.shape[0],):
            raise ValueError(f"groups must have shape ({x.shape[0]},), got {tuple(rows.shape)}")
        picked = draws.choice.to(x.device)[rows]
        pieces, order = [], []
        for index, family in enumerate(draws.families):
            sel = (picked == index).nonzero().squeeze(1)
            if sel.numel():
                pieces.append(self.apply(x[sel], draws.parts[family], groups=rows[sel]))
                order.append(sel)
        return torch.cat(pieces)[torch.argsort(torch.cat(order))]

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Per-sample augmentation (training on a synthetic set): a fresh row per image."""
        if not self.enabled:
            return x
        params = self.sample(x.shape[0], generator, device=x.device, image_size=x.shape[-2:])
        return self.apply(x, params)


def make_dsa(strategy: str = DEFAULT_STRATEGY, digits: bool = False) -> DSA:
    """The DSA of the published settings; ``digits=True`` drops ``flip`` (MNIST-like sets)."""
    return DSA(strategy, flip=not digits)
