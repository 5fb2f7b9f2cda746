"""Distillation settings a prior file recommends for itself, applied when the user sets none.

GLaD's feature-map step (``lr_feat`` 10) was tuned for StyleGAN-XL, whose modulated convolutions keep
feature scales normalized; latentdd's own priors have other feature statistics, and at 10 their
images saturate (CIFAR-10 autoencoder, layer 1, DM IPC 1, 100 iterations: 33 % of pixels at the
bounds against 13.6 % at ``lr_feat`` 1). So each prior file carries, in its record, the split layer
and step sizes chosen for it on validation splits carved from the training data (never the test
set; BENCHMARKS.md, "Latent variants chosen on a validation split"), per method, and ``build_config``
applies them between the method preset and the user's config file and flags: a flag or config key
always wins, and a prior without a recommendation (StyleGAN pickles, ``module:`` priors) keeps the
preset's GLaD values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: what ``latentdd prior train`` records for each architecture it trains.  Autoencoder: layer 1 at
#: lr_feat 1 beat layer 0 at 0.3, 1 and 3 and layer 1 at 0.3 (DM IPC 1 validation, MNIST and CIFAR-10).
#: GAN: layer 0 at lr_feat 1 was chosen on MNIST's validation over layers 0-2 x lr_feat 10 and 1, and beat
#: 0.1 and 0.3 on CIFAR-10's.
RECOMMENDED_BY_ARCH: dict[str, dict[str, dict[str, Any]]] = {
    "ae": {"dm": {"layer": 1, "lr_feat": 1.0}},
    "cgen": {"dm": {"layer": 0, "lr_feat": 1.0}},
}

#: the keys a recommendation may set (anything else in a record is ignored)
RECOMMENDABLE = ("layer", "lr_feat", "lr_latent", "init", "feat_radius")


def recommended_for_arch(arch: str) -> dict[str, dict[str, Any]]:
    """The per-method settings ``prior train`` writes into a new prior file of ``arch``."""
    return {method: dict(values) for method, values in RECOMMENDED_BY_ARCH.get(arch, {}).items()}


def prior_file_for_spec(spec: str) -> Path | None:
    """The latentdd prior file behind ``spec`` (``builtin:NAME`` or a path), else None."""
    from .loading.resolve import split_spec  # the loaders import torch; only needed here
    from .loading.sources import builtin_file

    scheme, rest = split_spec(spec)
    paths = {"builtin": builtin_file, "file": lambda p: Path(p).expanduser()}
    path = paths[scheme](rest) if scheme in paths else None
    return path if path is not None and path.is_file() else None


def recommended_settings(spec: str, method: str) -> dict[str, Any]:
    """The settings the prior file behind ``spec`` recommends for ``method`` ({} if none or unreadable:
    loading the prior later reports a damaged file with its own message)."""
    path = prior_file_for_spec(spec)
    if path is None:
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            record = json.loads((f.metadata() or {}).get("record", "{}"))
    except Exception:  # noqa: BLE001 -- any damage is reported by load_prior with the file's name
        return {}
    per_method = record.get("distill_defaults") if isinstance(record, dict) else None
    values = per_method.get(method) if isinstance(per_method, dict) else None
    if not isinstance(values, dict):
        return {}
    return {k: v for k, v in values.items() if k in RECOMMENDABLE}
