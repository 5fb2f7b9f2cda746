"""``--prior stylegan:PATH[?key=value&...]`` or a bare ``PATH.pkl``: an NVlabs-style network pickle
(StyleGAN2-ADA-PyTorch, StyleGAN3, StyleGAN-XL), driven by
:class:`~latentdd.priors.models.stylegan.StyleGANPrior`.

The pickle is the dict NVlabs' training writes (``G``, ``D``, ``G_ema``, ...); the generator used
is ``G_ema``, as their ``legacy.load_network_pkl`` returns it.  Their pickles name classes of
their own code (``torch_utils``, ``dnnlib``; StyleGAN-XL also ``pg_modules`` and more), so that
code must be importable: clone https://github.com/NVlabs/stylegan3 (or
https://github.com/autonomousvision/stylegan-xl) and add the clone to ``PYTHONPATH``.  A missing
module is reported in one line with that fix, not as an unpickling traceback.

**Security: unpickling runs code.**  A pickle can execute anything when loaded (NVlabs' pickles
even carry the Python source of their networks), so a pickle is opened only after the user opts in
(``--trust-pickle``, ``trust_pickle: true`` in a config, ``trust_pickle=True`` in the API); without
it the spec is refused before a byte is unpickled.  Load only files you trust, from their original
publishers.  latentdd's own prior files are safetensors and never unpickle.

Arguments after ``?`` (``stylegan:`` specs only; a bare path cannot carry them):
``truncation_psi=0.7`` (GLaD's default) and ``classes=[i0,i1,...]``, the network's class for each
dataset class (an ImageNet subset on an ImageNet network).  Labels are ignored by an unconditional
network (``c_dim = 0``).
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import torch
from torch import nn

from ....errors import UserError
from ...base import Prior
from ...models.stylegan import DEFAULT_TRUNCATION, StyleGANPrior
from .base import PriorRequest, file_record, register_source

FIX = (
    "clone https://github.com/NVlabs/stylegan3 (or autonomousvision/stylegan-xl for StyleGAN-XL pickles) "
    "and add it to PYTHONPATH"
)
ARGS = ("truncation_psi", "classes")
#: pip packages that StyleGAN2/3 and StyleGAN-XL pickles import while unpickling (module -> requirement);
#: any other missing module is the networks' own code (torch_utils, dnnlib, pg_modules, ...): clone it
PIP_NEEDS = {
    "scipy": "scipy",
    "dill": "dill",
    "pkg_resources": "'setuptools<81'",
    "timm": "timm",
    "ftfy": "ftfy",
    "regex": "regex",
    "PIL": "pillow",
}


class _CpuUnpickler(pickle.Unpickler):
    """NVlabs' ``legacy._LegacyUnpickler`` mapping: storages pickled from live CUDA modules
    (StyleGAN-XL's training loop dumps them) are loaded onto the CPU instead of failing there."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch.storage" and name == "_load_from_bytes":
            return lambda b: torch.load(io.BytesIO(b), map_location="cpu", weights_only=False)
        return super().find_class(module, name)


def missing_module_advice(module: str) -> str:
    """How to get a module a pickle needs: ``pip install`` for packages, else clone the code."""
    top = module.split(".")[0]
    if top in PIP_NEEDS:
        return f"install it: pip install {PIP_NEEDS[top]}"
    return FIX


def parse_stylegan_spec(rest: str) -> tuple[Path, dict[str, Any]]:
    """``"net.pkl?truncation_psi=0.5"`` -> ``(Path("net.pkl"), {"truncation_psi": 0.5})``."""
    path, _, query = rest.partition("?")
    kwargs: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in ARGS:
            raise UserError(f"unknown StyleGAN prior argument {key!r}; use {' or '.join(ARGS)}")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            raise UserError(f"StyleGAN prior argument {key}={value!r} is not a number or a [list]") from None
    return Path(path), kwargs


def load_network_pickle(path: Path, trusted: bool = False) -> Any:
    """``pickle.load`` the file, turning a missing module/class into a one-line :class:`UserError`.

    ``trusted`` is the user's opt-in (``--trust-pickle``): without it nothing is unpickled."""
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise UserError(f"StyleGAN pickle {path} {what}; pass the path of a network .pkl file")
    if not trusted:
        raise UserError(
            f"refusing to load {path}: it is a Python pickle, and unpickling runs whatever code the file "
            "names; pass --trust-pickle (trust_pickle: true in a config) only for a pickle you trust, "
            "from its original publisher"
        )
    try:
        with open(path, "rb") as f:
            return _CpuUnpickler(f).load()  # noqa: S301  (documented: pickles run code; only trusted files)
    except ModuleNotFoundError as e:
        raise UserError(
            f"StyleGAN pickle {path} needs the Python module {e.name!r}, which is not importable; "
            f"{missing_module_advice(e.name or '')}"
        ) from e
    except AttributeError as e:  # "Can't get attribute 'X' on <module 'm' ...>": code of another version
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"StyleGAN pickle {path} names code that is missing ({detail}); {FIX}") from e
    except Exception as e:  # noqa: BLE001  a damaged pickle fails in many ways (EOFError, KeyError, struct.error...)
        detail = str(e).splitlines()[0][:200] if str(e) else ""
        empty = path.stat().st_size == 0
        raise UserError(
            f"{path} is not a readable network pickle ({'empty file' if empty else type(e).__name__}"
            f"{': ' + detail if detail and not empty else ''}); pass a StyleGAN2/3 or StyleGAN-XL network .pkl"
        ) from e


def generator_of(data: Any, path: Path) -> nn.Module:
    """``G_ema`` from a training pickle's dict, ``G`` when there is no ``G_ema`` (GLaD's random-generator
    pickles hold only ``G``), or the network itself when the pickle holds just one."""
    G = data
    if isinstance(data, dict):
        G = data.get("G_ema") if data.get("G_ema") is not None else data.get("G")
    if not isinstance(G, nn.Module) or not hasattr(G, "mapping") or not hasattr(G, "synthesis"):
        what = f"a dict with keys {sorted(map(str, data))}" if isinstance(data, dict) else type(data).__name__
        raise UserError(f"{path} holds {what}, not a StyleGAN network pickle with 'G_ema' or 'G'")
    return G


@register_source("stylegan", suffixes=(".pkl",))
def load_stylegan_prior(rest: str, req: PriorRequest) -> tuple[Prior, dict[str, Any]]:
    path, kwargs = parse_stylegan_spec(rest)
    G = generator_of(load_network_pickle(path, trusted=req.trust_pickle), path)
    c_dim = int(getattr(G, "c_dim", 0))
    class_map = kwargs.get("classes")
    if class_map is not None and not isinstance(class_map, list):
        raise UserError(
            f"classes={class_map!r} must be a list of the network's class indices, e.g. classes=[1,7]"
        )
    if c_dim > 0 and class_map is None and c_dim != req.num_classes:
        raise UserError(
            f"{path} is conditioned on {c_dim} classes and the dataset has {req.num_classes}; name the "
            f"network's class for each dataset class with --prior 'stylegan:{path}?classes=[...]'"
        )
    prior = StyleGANPrior(
        G,
        num_classes=req.num_classes,
        image_size=req.image_size,
        image_channels=req.channels,
        truncation_psi=float(kwargs.get("truncation_psi", DEFAULT_TRUNCATION)),
        class_map=class_map,
    )
    prior = prior.to(req.device).eval().requires_grad_(False)
    record = {**file_record(path), "source": f"stylegan:{rest}", "arch": "stylegan", "config": prior.config()}
    return prior, record
