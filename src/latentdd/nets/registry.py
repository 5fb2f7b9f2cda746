"""The model zoo by name, timm-style: ``@register_model``, ``list_models``, ``create_model``.

Every factory takes the same leading arguments ``(channels, num_classes, image_size)``
followed by keyword-only options of its family (``depth``, ``width``, ``norm`` ...), so the
engine and the evaluator can build any architecture from a name and a dataset's shape.
Named variants of the reference code (``convnetbn`` = ``convnet`` with ``norm="batchnorm"``)
are registered with :func:`register_variant` instead of one copy-pasted function each.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from ..errors import UserError
from ..registry import Registry
from ..seeding import seeded_global_rng
from .base import HW, ZooModel, to_hw

ModelFactory = Callable[..., ZooModel]

MODELS: Registry[ZooModel] = Registry("model")


def register_model(fn: ModelFactory) -> ModelFactory:
    """Decorator: register ``fn`` under its (lower-cased) function name."""
    MODELS.register()(fn)
    return fn


def register_variant(name: str, base: ModelFactory, doc: str, **preset: Any) -> ModelFactory:
    """Register ``name`` as ``base`` with the options in ``preset`` fixed.

    The variant advertises ``base``'s signature with the preset values as defaults, so
    :func:`create_model` can validate options; passing a *different* value for a fixed
    option is a user error (``convnetbn`` with ``norm="layernorm"`` is a contradiction).
    """

    def factory(channels: int, num_classes: int, image_size: HW, **kwargs: Any) -> ZooModel:
        for key, value in preset.items():
            if key in kwargs and kwargs[key] != value:
                raise UserError(
                    f"model {name!r} fixes {key}={value!r}; to use {key}={kwargs[key]!r}, "
                    f"create {base.__name__!r} with {key}={kwargs[key]!r} instead"
                )
        return base(channels, num_classes, image_size, **{**kwargs, **preset})

    signature = inspect.signature(base)
    factory.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            p.replace(default=preset[p.name]) if p.name in preset else p
            for p in signature.parameters.values()
        ]
    )
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc
    MODELS.register(name)(factory)
    return factory


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell wildcard, e.g. ``list_models("resnet*")``."""
    return MODELS.names(pattern)


def model_options(name: str) -> dict[str, Any]:
    """The keyword options ``name`` accepts, with their defaults (for help texts and configs)."""
    params = inspect.signature(MODELS.get(name)).parameters
    return {p.name: p.default for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def create_model(
    name: str,
    channels: int,
    num_classes: int,
    image_size: int | tuple[int, int],
    *,
    device: str | torch.device | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> ZooModel:
    """Build model ``name`` for ``channels``-channel ``image_size`` images and ``num_classes``.

    ``seed`` makes the initialization repeatable without touching the caller's global RNG
    (module init draws from the global RNG; see :func:`latentdd.seeding.seeded_global_rng`).
    ``kwargs`` are the family's options (``depth``, ``width``, ``norm`` ...); unknown ones
    are a :class:`UserError` naming the accepted options.
    """
    factory = MODELS.get(name)
    allowed = model_options(name)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise UserError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(allowed) or '(none)'}"
        )
    if int(channels) < 1 or int(num_classes) < 1:
        raise UserError(
            f"model {name!r} needs channels >= 1 and num_classes >= 1 (got {channels}, {num_classes})"
        )
    hw = to_hw(image_size)
    if seed is None:
        model = factory(int(channels), int(num_classes), hw, **kwargs)
    else:
        with seeded_global_rng(seed):
            model = factory(int(channels), int(num_classes), hw, **kwargs)
    # Enough to rebuild the same architecture later (expert buffers, saved evaluations).
    model.model_name = name.lower()
    model.model_config = {
        "channels": int(channels),
        "num_classes": int(num_classes),
        "image_size": hw,
        **kwargs,
    }
    return model.to(device) if device is not None else model
