"""Named evaluation protocols: how fresh networks are trained on a synthetic set.

A reported accuracy means nothing without the recipe that produced it, so every
figure latentdd prints names one of these protocols.  The recipe is the one of the
DC/DSA/MTT papers (SGD, momentum 0.9, weight decay 5e-4, lr 0.01 divided by 10 at
half the epochs, batch 256, DSA augmentation); the protocols differ in epochs, runs
and which architectures are trained.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..augment import DSA, make_dsa
from ..errors import UserError
from ..registry import Registry

#: The architectures of the cross-architecture tables of the DC/DSA/DM/MTT/GLaD papers.
PAPER_MODELS = ("convnet", "alexnet", "vgg11", "resnet18", "vit")


@dataclass
class EvalProtocol:
    """One evaluation recipe.

    ``lr_decay_at`` is the fraction of ``epochs`` after which the learning rate is
    divided by 10 (0.5 is the DC protocol; 1.0 or more means no decay).  When
    ``use_learned_lr`` is set (MTT), a learning rate stored with the synthetic set
    replaces ``lr``; sets without one fall back to ``lr``.  ``dsa_strategy`` names the
    augmentation the caller should build (``""`` or ``"none"``: no augmentation).
    """

    name: str
    epochs: int
    runs: int
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 256
    lr_decay_at: float = 0.5
    dsa_strategy: str = "color_crop_cutout_flip_scale_rotate"
    models: list[str] = field(default_factory=lambda: list(PAPER_MODELS))
    use_learned_lr: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        self.models = [self.models] if isinstance(self.models, str) else list(self.models)
        problems = []
        if int(self.epochs) < 1:
            problems.append(f"epochs must be at least 1 (got {self.epochs})")
        if int(self.runs) < 1:
            problems.append(f"runs must be at least 1 (got {self.runs})")
        if int(self.batch_size) < 1:
            problems.append(f"batch_size must be at least 1 (got {self.batch_size})")
        if not self.lr > 0:
            problems.append(f"lr must be positive (got {self.lr})")
        if self.lr_decay_at < 0:
            problems.append(f"lr_decay_at must be >= 0 (got {self.lr_decay_at})")
        if not self.models:
            problems.append("models must name at least one architecture (e.g. --models convnet)")
        if problems:
            raise UserError(f"evaluation protocol {self.name!r}: " + "; ".join(problems))
        self.epochs, self.runs, self.batch_size = int(self.epochs), int(self.runs), int(self.batch_size)

    @property
    def decay_epoch(self) -> int:
        """First epoch trained at the decayed learning rate (``epochs`` when there is no decay)."""
        return min(self.epochs, int(round(self.epochs * self.lr_decay_at)))

    def make_dsa(self, digits: bool = False) -> DSA | None:
        """The augmentation this protocol trains with (``None`` when ``dsa_strategy`` is off);
        ``digits`` drops the flip, as for MNIST-like sets (``DatasetSplits.digits``)."""
        dsa = make_dsa(self.dsa_strategy, digits=digits)
        return dsa if dsa.enabled else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PROTOCOLS: Registry[EvalProtocol] = Registry("protocol")


@PROTOCOLS.register("paper")
def paper() -> EvalProtocol:
    return EvalProtocol(
        "paper", epochs=1000, runs=5, description="DSA/DM/GLaD evaluation: 1000 epochs, 5 runs"
    )


@PROTOCOLS.register("cpu-small")
def cpu_small() -> EvalProtocol:
    return EvalProtocol(
        "cpu-small", epochs=300, runs=3, description="paper recipe shortened to 300 epochs, 3 runs (CPU)"
    )


@PROTOCOLS.register("mtt")
def mtt() -> EvalProtocol:
    return EvalProtocol(
        "mtt",
        epochs=1000,
        runs=5,
        use_learned_lr=True,
        description="MTT evaluation: paper recipe with the synthetic set's learned learning rate",
    )


@PROTOCOLS.register("dc")
def dc() -> EvalProtocol:
    # The DC code (main.py: epoch_eval_train 300) trains evaluation networks without DSA; it adds its own
    # non-differentiable crop/scale/rotate on MNIST only, which is not replicated here.
    return EvalProtocol(
        "dc",
        epochs=300,
        runs=5,
        dsa_strategy="none",
        description="DC paper evaluation: 300 epochs, 5 runs, no augmentation (DC code's MNIST-only "
        "crop/scale/rotate not replicated)",
    )


@PROTOCOLS.register("quick")
def quick() -> EvalProtocol:
    return EvalProtocol(
        "quick",
        epochs=100,
        runs=1,
        models=["convnet", "lenet", "mlp"],
        description="demo/smoke check: 100 epochs, 1 run, three cheap architectures",
    )


def get_protocol(name: str, **overrides: Any) -> EvalProtocol:
    """The protocol ``name`` with fields replaced by ``overrides``.

    Overrides whose value is ``None`` are ignored, so a CLI can pass its optional
    flags straight through (``get_protocol(p, epochs=args.epochs, runs=args.runs)``).
    """
    base = PROTOCOLS.create(name)
    given = {k: v for k, v in overrides.items() if v is not None}
    known = {f.name for f in dataclasses.fields(EvalProtocol)} - {"name"}
    unknown = sorted(set(given) - known)
    if unknown:
        raise UserError(
            f"unknown evaluation setting(s) {', '.join(unknown)}; valid settings: {', '.join(sorted(known))}"
        )
    return dataclasses.replace(base, **given)
