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
import re
from dataclasses import asdict, dataclass, field
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
    if data.get("format") != KIND:
        raise UserError(f"{str(path)!r} is not a latentdd expert manifest")
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
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("latentdd_kind") != KIND or "trajectory" not in f.keys():
                return None
            shape = list(f.get_slice("trajectory").get_shape())
    except (SafetensorError, OSError, ValueError, RuntimeError):
        return None
    try:
        return {
            "shape": shape,
            "index": json.loads(meta["index"]),
            "settings": json.loads(meta["settings"]),
            "extra": json.loads(meta.get("extra", "{}")),
        }
    except (KeyError, ValueError):
        return None


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
        for k in expert_indices(self.folder):
            header = read_expert_header(expert_path(self.folder, k))
            if header is None or header["shape"][0] != self.settings.epochs + 1:
                continue  # damaged or foreign: leave it out
            self.paths.append(expert_path(self.folder, k))
            if self.index is None:
                self.index = [(n, list(s)) for n, s in header["index"]]
        if not self.paths:
            raise UserError(
                f"expert folder {str(folder)!r} holds no finished expert yet; run "
                f"`latentdd experts ... --out {folder}` (it resumes) and wait for at least one"
            )

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def epochs(self) -> int:
        return int(self.settings.epochs)

    def rows(self, k: int, epochs: list[int], device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """The flat parameters of expert ``k`` after each of ``epochs`` (only those rows are read)."""
        with safe_open(str(self.paths[k]), framework="pt") as f:
            sl = f.get_slice("trajectory")
            return [sl[e : e + 1].reshape(-1).to(device) for e in epochs]

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
