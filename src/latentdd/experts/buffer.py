"""Expert trajectories on disk: one folder, one manifest, one file per expert.

Layout of a buffer folder::

    buffer.json              settings every expert in the folder was trained with
    zca.safetensors          the whitening the experts saw (only with --zca)
    expert_<k>.safetensors   expert k: tensor "trajectory" [epochs + 1, P] float32

Row ``e`` of ``trajectory`` holds all parameters of the network after ``e`` epochs
(row 0 = initialization), flattened in ``named_parameters()`` order; the metadata's
``index`` ([name, shape] pairs) maps it back.  One flat tensor per expert makes a
start/target pair two row reads (``safe_open(...).get_slice``), so distillation never
holds a whole buffer in memory -- the reference loads whole ``replay_buffer_*.pt``
lists of per-epoch tensor lists instead.

Every file is written atomically (temp file + rename), so an ``expert_<k>.safetensors``
that exists is complete; the manifest is created once (``fileio.atomic_create``: ``os.link`` of a finished temp
file, which fails if another process got there first) and then only compared against.
"""

from __future__ import annotations

import json
import logging
import math
import re
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..data.zca import ZCA
from ..errors import UserError
from ..fileio import atomic_create, atomic_write

KIND = "latentdd-expert"
FORMAT_VERSION = 1
MANIFEST = "buffer.json"
ZCA_FILE = "zca.safetensors"
_EXPERT_RE = re.compile(r"^expert_(\d+)\.safetensors$")

log = logging.getLogger(__name__)


@dataclass
class ExpertSettings:
    """Everything that defines a trajectory; all experts of one folder share it."""

    dataset: str
    dataset_sha256: str | None
    channels: int
    num_classes: int
    image_size: list[int]
    model: str = "convnet"
    model_args: dict[str, Any] = field(default_factory=dict)
    epochs: int = 50
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch: int = 256
    dsa: bool = True
    dsa_strategy: str = "color_crop_cutout_flip_scale_rotate"
    zca: bool = False
    zca_eps: float | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"format": KIND, "format_version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExpertSettings:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def problem(cls, d: dict[str, Any]) -> str | None:
        """What keeps ``d`` (a manifest) from being these settings: a setting missing or of the wrong type."""
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name not in d:
                if f.default is MISSING and f.default_factory is MISSING:
                    return f"it lacks the setting {f.name!r}"
            elif not _is_a(d[f.name], hints[f.name]):
                tp = hints[f.name]
                return f"its setting {f.name!r} is {d[f.name]!r}, not {tp.__name__ if isinstance(tp, type) else tp}"
        return None


def _is_a(value: Any, tp: Any) -> bool:
    """``value`` (read from JSON) fits the annotation ``tp`` (numbers finite; ``int`` serves ``float``)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_is_a(value, a) for a in args)
    if tp is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_is_a(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if tp in (int, float) and isinstance(value, bool):
        return False
    if tp is float:
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, tp)


def expert_path(folder: str | Path, k: int) -> Path:
    return Path(folder) / f"expert_{k}.safetensors"


def lock_path(folder: str | Path, k: int) -> Path:
    return Path(folder) / f"expert_{k}.lock"


def _normalized(d: dict[str, Any]) -> dict[str, Any]:
    """JSON round trip, so tuples/lists and ints/floats compare as they are stored."""
    return json.loads(json.dumps(d))


def ensure_manifest(folder: str | Path, settings: ExpertSettings) -> None:
    """Create ``buffer.json`` if absent (exactly once across processes), else check that
    ``settings`` match it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST
    wanted = _normalized(settings.to_dict())
    if not path.exists() and atomic_create(
        path, lambda tmp: Path(tmp).write_text(json.dumps(wanted, indent=2))
    ):
        return
    existing = read_manifest(folder)
    diff = {k: (existing.get(k), v) for k, v in wanted.items() if existing.get(k) != v}
    if diff:
        shown = "; ".join(f"{k}: folder has {a!r}, asked {b!r}" for k, (a, b) in diff.items())
        raise UserError(
            f"expert folder {str(folder)!r} holds experts trained with other settings ({shown}); "
            "use another --out folder or the folder's settings"
        )


def read_manifest(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise UserError(
            f"{str(folder)!r} is not an expert buffer (no {MANIFEST}); "
            "make one with `latentdd experts --dataset NAME --num N --epochs E --out DIR`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(
            f"{str(path)!r} is damaged; delete the expert folder and train the experts again"
        ) from None
    if not isinstance(data, dict) or data.get("format") != KIND:
        raise UserError(f"{str(path)!r} is not a latentdd expert manifest")
    problem = ExpertSettings.problem(data)
    if problem:
        raise UserError(
            f"{str(path)!r} is damaged: {problem}; delete the expert folder and train the experts again"
        )
    return data


def save_expert(
    path: str | Path,
    trajectory: torch.Tensor,
    index: list[tuple[str, list[int]]],
    settings: ExpertSettings,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write one expert atomically: ``trajectory`` is ``[epochs + 1, P]``."""
    metadata = {
        "latentdd_kind": KIND,
        "format_version": str(FORMAT_VERSION),
        "index": json.dumps([[n, list(s)] for n, s in index]),
        "settings": json.dumps(settings.to_dict()),
        "extra": json.dumps(extra or {}),
    }
    tensors = {"trajectory": trajectory.detach().to("cpu", torch.float32).contiguous()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def read_expert_header(path: str | Path) -> dict[str, Any] | None:
    """The metadata of a readable expert file (plus its trajectory shape), else ``None``."""
    return inspect_expert(path)[0]


def inspect_expert(path: str | Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(header, None)`` for a readable expert file; ``(None, problem)`` for a damaged or foreign one
    (unreadable, not an expert, its trajectory of another dtype or of a shape its index does not give)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("latentdd_kind") != KIND:
                return None, "is not a latentdd expert file"
            if "trajectory" not in f.keys():  # noqa: SIM118  (safe_open has no __contains__)
                return None, "has no 'trajectory' tensor"
            trajectory = f.get_slice("trajectory")
            shape, dtype = list(trajectory.get_shape()), trajectory.get_dtype()
    except (SafetensorError, OSError, ValueError, RuntimeError):
        empty = Path(path).is_file() and Path(path).stat().st_size == 0
        return None, "is empty" if empty else "is unreadable (truncated, or not a safetensors file)"
    try:
        header = {
            "shape": shape,
            "index": json.loads(meta["index"]),
            "settings": json.loads(meta["settings"]),
            "extra": json.loads(meta.get("extra", "{}")),
        }
        size = sum(math.prod(int(d) for d in s) for _, s in header["index"])
    except (KeyError, ValueError, TypeError):
        return None, "has damaged metadata"
    if dtype != "F32":
        return None, f"has a trajectory of dtype {dtype}, not F32 (float32)"
    if len(shape) != 2 or shape[0] < 1 or shape[1] != size:
        return None, f"has a trajectory of shape {tuple(shape)}, not (epochs + 1) x {size} parameters"
    return header, None


def is_complete(path: str | Path, epochs: int) -> bool:
    header = read_expert_header(path)
    return header is not None and header["shape"][0] == epochs + 1


def expert_indices(folder: str | Path) -> list[int]:
    found = [_EXPERT_RE.match(p.name) for p in Path(folder).iterdir()] if Path(folder).is_dir() else []
    return sorted(int(m.group(1)) for m in found if m)


class ExpertBuffer:
    """Read side of a buffer folder: lists complete experts and serves parameter rows."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise UserError(
                f"expert folder {str(folder)!r} does not exist; make it with "
                "`latentdd experts --dataset NAME --num N --epochs E --out DIR` and pass --experts DIR"
            )
        self.settings = ExpertSettings.from_dict(read_manifest(self.folder))
        self.paths: list[Path] = []
        self.index: list[tuple[str, list[int]]] | None = None
        damaged: list[str] = []
        for k in expert_indices(self.folder):
            header, problem = inspect_expert(expert_path(self.folder, k))
            if problem:  # damaged or foreign: leave it out, and say so
                damaged.append(f"{expert_path(self.folder, k).name} {problem}")
            if header is None or header["shape"][0] != self.settings.epochs + 1:
                continue  # an expert still in training has fewer epochs
            self.paths.append(expert_path(self.folder, k))
            if self.index is None:
                self.index = [(n, list(s)) for n, s in header["index"]]
        fix = f"delete it and run `latentdd experts ... --out {folder}` again (it trains the experts that are missing)"
        if not self.paths and damaged:
            more = f" (and {len(damaged) - 1} more damaged)" if len(damaged) > 1 else ""
            raise UserError(
                f"expert folder {str(folder)!r} holds no usable expert: {damaged[0]}{more}; {fix}"
            )
        if not self.paths:
            raise UserError(
                f"expert folder {str(folder)!r} holds no finished expert yet; run "
                f"`latentdd experts ... --out {folder}` (it resumes) and wait for at least one"
            )
        for what in damaged:
            log.warning("expert folder %s: left out %s; %s", folder, what, fix)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def epochs(self) -> int:
        return int(self.settings.epochs)

    def rows(self, k: int, epochs: list[int], device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """The flat parameters of expert ``k`` after each of ``epochs`` (only those rows are read)."""
        path = self.paths[k]
        try:
            with safe_open(str(path), framework="pt") as f:
                sl = f.get_slice("trajectory")
                rows = [sl[e : e + 1].reshape(-1) for e in epochs]
        except (SafetensorError, OSError, ValueError, RuntimeError):
            raise UserError(
                f"expert file {path} became unreadable during the run; delete it, run `latentdd experts ... "
                f"--out {self.folder}` again, then `latentdd distill --resume`"
            ) from None
        for e, row in zip(epochs, rows, strict=True):
            if not bool(torch.isfinite(row).all()):  # a blown-up expert: matching it would teach NaN
                raise UserError(
                    f"expert file {path} holds NaN or Inf parameters after epoch {e}; delete it, run "
                    f"`latentdd experts ... --out {self.folder}` again, then `latentdd distill --resume`"
                )
        return [row.to(device) for row in rows]

    def zca(self) -> ZCA | None:
        if not self.settings.zca:
            return None
        path = self.folder / ZCA_FILE
        if not path.is_file():
            raise UserError(
                f"expert folder {str(self.folder)!r} was trained with --zca but has no {ZCA_FILE}; "
                "train the experts again"
            )
        return ZCA.load(path)
