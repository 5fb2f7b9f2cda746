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

from pathlib import Path
from typing import Any

import torch

from ...errors import UserError
from ..base import Prior
from .io import load_prior
from .sources import BUILTIN_DIR as BUILTIN_DIR  # re-exported: where the shipped priors live
from .sources import PATH_SUFFIXES, PRIOR_SOURCES, PriorRequest, builtin_file, builtin_priors


def describe_builtin_priors() -> list[dict[str, Any]]:
    """One summary per shipped prior (name, dataset, architecture, steps, training time, license, weights
    hash): what ``latentdd prior list`` prints, so a user can pick one without reading files."""
    out = []
    for name in builtin_priors():
        _, record = load_prior(builtin_file(name))
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


def split_spec(spec: str) -> tuple[str, str]:
    """``"module:a.b:f"`` -> ``("module", "a.b:f")``; a bare path -> its suffix's scheme or ``file``."""
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
    trust_pickle: bool = False,
) -> tuple[Prior, dict[str, Any]]:
    """Return ``(prior, record)`` for ``spec``; the prior must make images of the dataset's shape and classes.

    ``license`` and ``source`` are what the user declares (``--prior-license``, ``--prior-source``);
    they are added to the record, beside anything the prior file already recorded.  ``trust_pickle``
    (``--trust-pickle``) lets a pickled prior (a StyleGAN ``.pkl``) be loaded: unpickling runs code.
    """
    req = PriorRequest(num_classes, channels, image_size, seed, device, license, source, trust_pickle)
    scheme, rest = split_spec(spec)
    prior, record = PRIOR_SOURCES.create(scheme, rest, req)
    _check_fits(prior, record, spec, req)
    record = dict(record, spec=spec)
    if license:
        record["declared_license"] = license
    if source:
        record["declared_source"] = source
    return prior, record
