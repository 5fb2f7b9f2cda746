"""Turn a ``--prior`` spec into a frozen prior that fits the dataset.

A spec is ``SCHEME:REST`` or a bare path.  Each scheme registers a loader in
:data:`PRIOR_SOURCES` where it is defined (no if-chain here):

* ``random`` -- the built-in architecture with random weights (GLaD's ablation);
* ``builtin:NAME`` -- a prior file shipped inside the package;
* ``module:package.module:factory`` or ``module:path/to/file.py:factory`` (with ``?key=value&...``
  arguments) -- any ``torch.nn.Module`` that implements the prior interface (see ``docs/priors.md``);
* a path -- a latentdd prior file (``latentdd prior train``), or another format whose scheme claims
  the path by its suffix (``.pkl`` for StyleGAN-family pickles, for instance).

Every loader returns ``(prior, record)``; the record is the prior's provenance and is copied into
each run folder (``prior.json``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..registry import Registry
from .base import Prior
from .io import file_sha256, load_prior
from .random_prior import RANDOM_ARCH, make_random_prior

BUILTIN_DIR = Path(__file__).parent / "builtin"


@dataclass(frozen=True)
class PriorRequest:
    """What the dataset needs from a prior, plus the user's declared provenance."""

    num_classes: int
    channels: int
    image_size: int
    seed: int
    device: str | torch.device = "cpu"
    license: str | None = None
    source: str | None = None


#: ``scheme -> loader(rest, request) -> (prior, record)``
PRIOR_SOURCES: Registry[tuple[Prior, dict[str, Any]]] = Registry("prior source")

#: ``(suffix, scheme)``: bare paths with these suffixes go to that scheme's loader.
PATH_SUFFIXES: dict[str, str] = {}


def register_source(scheme: str, *, suffixes: tuple[str, ...] = ()) -> Callable:
    """Register a loader for ``scheme:...`` specs (and for bare paths ending in ``suffixes``)."""
    for s in suffixes:
        PATH_SUFFIXES[s.lower()] = scheme
    return PRIOR_SOURCES.register(scheme)


def builtin_priors() -> list[str]:
    """Names usable as ``builtin:NAME``."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.safetensors")) if BUILTIN_DIR.is_dir() else []


def describe_builtin_priors() -> list[dict[str, Any]]:
    """One summary per shipped prior (name, dataset, architecture, steps, training time, license, weights
    hash): what ``latentdd prior list`` prints, so a user can pick one without reading files."""
    out = []
    for name in builtin_priors():
        _, record = load_prior(BUILTIN_DIR / f"{name}.safetensors")
        dataset = record.get("dataset")
        out.append(
            {
                "name": name,
                "spec": f"builtin:{name}",
                "dataset": dataset.get("name") if isinstance(dataset, dict) else dataset,
                "arch": record.get("arch"),
                "steps": record.get("steps"),
                "train_seconds": record.get("train_seconds"),
                "license": record.get("license"),
                "sha256": record.get("sha256"),
            }
        )
    return out


@register_source("random")
def _random(rest: str, req: PriorRequest) -> tuple[Prior, dict[str, Any]]:
    arch = rest or RANDOM_ARCH  # random:sgen -> a random-weight sgen
    prior = make_random_prior(req.num_classes, req.channels, req.image_size, req.seed, arch=arch).to(
        req.device
    )
    return prior, {"source": "random", "arch": arch, "seed": req.seed, "config": prior.config()}


@register_source("builtin")
def _builtin(name: str, req: PriorRequest) -> tuple[Prior, dict[str, Any]]:
    path = BUILTIN_DIR / f"{name}.safetensors"
    if not path.is_file():
        known = ", ".join(builtin_priors()) or "none are installed"
        raise UserError(f"no built-in prior {name!r} (available: {known}); pass a prior file or 'random'")
    return load_prior(path, device=req.device)


@register_source("file")
def _file(path: str, req: PriorRequest) -> tuple[Prior, dict[str, Any]]:
    return load_prior(Path(path), device=req.device)


def split_spec(spec: str) -> tuple[str, str]:
    """``"module:a.b:f"`` -> ``("module", "a.b:f")``; a bare path -> its suffix's scheme or ``file``."""
    from . import sources  # noqa: F401  (registers module:, StyleGAN pickles, diffusers; imported late)

    if spec == "random":
        return "random", ""
    head, sep, rest = spec.partition(":")
    # "C:\\..." on Windows and bare paths are not schemes; a scheme is a registered word.
    if sep and head.lower() in PRIOR_SOURCES and len(head) > 1:
        return head.lower(), rest
    return PATH_SUFFIXES.get(Path(spec).suffix.lower(), "file"), spec


def _absolute_if_local(path: str) -> str:
    p = Path(path).expanduser()
    return str(p.resolve()) if p.exists() else path


def absolute_spec(spec: str) -> str:
    """``spec`` with any local path in it made absolute, so a run resumes from any directory.

    ``module:dir/gen.py:make`` -> ``module:/abs/dir/gen.py:make``; ``stylegan:net.pkl``,
    ``diffusers:./vae?subfolder=vae`` and bare paths likewise.  Hub ids, import paths and paths
    that do not exist (yet) are left as written: the loader reports those.
    """
    scheme, rest = split_spec(spec)
    if scheme in ("random", "builtin"):
        return spec
    body, q, query = rest.partition("?")
    if scheme == "module" and body.rpartition(":")[0].endswith(".py"):
        path, _, factory = body.rpartition(":")
        body = f"{_absolute_if_local(path)}:{factory}"
    elif scheme != "module":
        body = _absolute_if_local(body)
    rebuilt = body + q + query
    return rebuilt if rest == spec else f"{scheme}:{rebuilt}"


def file_record(path: str | Path) -> dict[str, Any]:
    """The part of a provenance record every file-backed prior shares."""
    p = Path(path)
    return {"path": str(p.resolve()), "file_sha256": file_sha256(p)}


def _check_fits(prior: Prior, record: dict[str, Any], spec: str, req: PriorRequest) -> None:
    mismatches = [
        f"{what}: prior {have}, dataset {want}"
        for what, have, want in (
            ("classes", prior.num_classes, req.num_classes),
            ("channels", prior.image_channels, req.channels),
            ("image size", prior.image_size, req.image_size),
        )
        if have != want
    ]
    if mismatches:
        trained_on = record.get("dataset", "another dataset")
        raise UserError(
            f"prior {spec} (trained on {trained_on}) does not fit this dataset ({'; '.join(mismatches)}); "
            "train a prior on this dataset with `latentdd prior train` or use --prior random"
        )


def resolve_prior(
    spec: str,
    *,
    num_classes: int,
    channels: int,
    image_size: int,
    seed: int,
    device: str | torch.device = "cpu",
    license: str | None = None,
    source: str | None = None,
) -> tuple[Prior, dict[str, Any]]:
    """Return ``(prior, record)`` for ``spec``; the prior must make images of the dataset's shape and classes.

    ``license`` and ``source`` are what the user declares (``--prior-license``, ``--prior-source``);
    they are added to the record, beside anything the prior file already recorded.
    """
    req = PriorRequest(num_classes, channels, image_size, seed, device, license, source)
    scheme, rest = split_spec(spec)
    prior, record = PRIOR_SOURCES.create(scheme, rest, req)
    _check_fits(prior, record, spec, req)
    record = dict(record, spec=spec)
    if license:
        record["declared_license"] = license
    if source:
        record["declared_source"] = source
    return prior, record
