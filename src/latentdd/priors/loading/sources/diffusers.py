"""``--prior diffusers:ID_OR_PATH[?subfolder=vae&revision=...&variant=...]``: the decoder of a
diffusers ``AutoencoderKL`` (Stable Diffusion's VAE) as the prior.

``ID_OR_PATH`` is a local folder written by ``save_pretrained`` or a Hugging Face Hub id
(``stabilityai/sd-vae-ft-mse``, or a whole pipeline with ``?subfolder=vae``); both go through
``AutoencoderKL.from_pretrained``, so the Hub's cache and ``HF_HUB_OFFLINE`` behave as usual.
diffusers is imported only when this scheme is used (``pip install 'latentdd[diffusers]'``).

The record names the model and, for a local folder, the sha256 of its weight and config files,
so a run says which weights it decoded with; the prior itself is not copied into the run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from ....errors import UserError
from ...base import Prior
from ...models.autoencoder import ARCH, AutoencoderKLPrior, require_diffusers
from .base import PriorRequest, file_record, register_source

USAGE = (
    "use --prior diffusers:HUB_ID or diffusers:path/to/folder (made by save_pretrained), e.g. "
    "diffusers:stabilityai/sd-vae-ft-mse"
)

#: ``?key=value`` arguments passed on to ``from_pretrained``
ARGS = ("subfolder", "revision", "variant")

WEIGHT_SUFFIXES = (".safetensors", ".bin")


def parse_diffusers_spec(rest: str) -> tuple[str, dict[str, str]]:
    """``"org/vae?subfolder=vae"`` -> ``("org/vae", {"subfolder": "vae"})``."""
    target, _, query = rest.partition("?")
    if not target:
        raise UserError(f"prior spec 'diffusers:{rest}' names no model; {USAGE}")
    try:
        args = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError as e:
        raise UserError(
            f"cannot parse the arguments of prior spec 'diffusers:{rest}' ({e}); "
            f"write them as ?{'=...&'.join(ARGS)}=..."
        ) from e
    unknown = sorted(set(args) - set(ARGS))
    if unknown:
        raise UserError(
            f"prior spec 'diffusers:{rest}' has unknown argument(s) {', '.join(unknown)}; "
            f"known: {', '.join(ARGS)}"
        )
    return target, args


def _looks_like_path(target: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else that is not a folder is a bad path."""
    return (
        target.startswith((".", "/", "~", "\\")) or target.count("/") > 1 or "\\" in target or ":" in target
    )


def local_files(folder: Path) -> list[dict[str, Any]]:
    """sha256 of the weights and config a local folder holds (what ``from_pretrained`` reads)."""
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.suffix == ".json")
    )
    return [file_record(p) for p in files]


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}"


@register_source("diffusers")
def load_diffusers_prior(rest: str, req: PriorRequest) -> tuple[Prior, dict[str, Any]]:
    target, args = parse_diffusers_spec(rest)
    AutoencoderKL = require_diffusers()
    local = Path(target).expanduser()
    is_local = local.is_dir()
    if not is_local and (local.exists() or _looks_like_path(target)):
        raise UserError(f"prior folder {target} not found (or not a folder); {USAGE}")
    kwargs: dict[str, Any] = {k: v for k, v in args.items() if v}
    if importlib.util.find_spec("accelerate") is None:
        kwargs["low_cpu_mem_usage"] = False  # the default wants accelerate and warns without it
    try:
        vae = AutoencoderKL.from_pretrained(str(local) if is_local else target, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as e:
        where = (
            f"folder {target}"
            if is_local
            else f"{target!r} from the Hugging Face Hub (no network, a wrong id, or a pipeline that needs "
            "?subfolder=vae?)"
        )
        raise UserError(f"could not load an AutoencoderKL from {where}: {_one_line(e)}; {USAGE}") from e
    if not isinstance(vae, AutoencoderKL):
        raise UserError(f"{target} holds a {type(vae).__name__}, not an AutoencoderKL; {USAGE}")
    prior = AutoencoderKLPrior(vae, req.num_classes, req.channels, req.image_size).to(req.device)
    record: dict[str, Any] = {"source": f"diffusers:{rest}", "arch": ARCH, "model": target, **args}
    if is_local:
        folder = local / args["subfolder"] if args.get("subfolder") else local
        record["model"] = str(local.resolve())
        record["files"] = local_files(folder)
    record["config"] = prior.config()
    return prior, record
