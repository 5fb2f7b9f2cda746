"""The run directory: every file a run writes, and the check that a folder *is* a run.

Layout::

    config.yaml          everything needed to repeat the run
    checkpoint.pt        latest resumable state (atomic)
    synset.safetensors   images, labels, latents where used
    grid.png             the synthetic images, one row per class
    distill.json         time, peak memory, loss curve, prior provenance
    prior.json           the prior's provenance record (latent space): hashes, source, license
    metrics.json         evaluation (shape fixed by DESIGN.md)
    log.txt              the log
    .lock, .lock.owner   held by the one process distilling into the folder (pid, host, start)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..claims import Claim, hold_exclusive
from ..config import DistillConfig, config_from_yaml_text
from ..errors import UserError
from ..fileio import atomic_write_json, atomic_write_text


class RunDir:
    CONFIG = "config.yaml"
    CHECKPOINT = "checkpoint.pt"
    SYNSET = "synset.safetensors"
    GRID = "grid.png"
    STATS = "distill.json"
    METRICS = "metrics.json"
    LOG = "log.txt"
    PRIOR = "prior.json"
    LOCK = ".lock"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @classmethod
    def existing(cls, path: str | Path) -> RunDir:
        """A folder that must already be a run (for --resume, evaluate, report)."""
        run = cls(path)
        if not run.path.is_dir():
            raise UserError(
                f"run folder {str(run.path)!r} does not exist; pass the --out folder of a distill run"
            )
        if not run.file(cls.CONFIG).is_file():
            raise UserError(
                f"{str(run.path)!r} is not a latentdd run (no {cls.CONFIG}); pass the --out folder of a distill run"
            )
        return run

    def ensure_fresh(self) -> None:
        if self.file(self.CONFIG).exists() or self.file(self.SYNSET).exists():
            raise UserError(
                f"{str(self.path)!r} already holds a run; continue it with `latentdd distill --resume "
                f"{self.path}` or choose another --out"
            )

    def hold(self) -> Claim:
        """Claim the folder for this process's distillation; a second ``distill`` (or ``--resume``) on
        it refuses, naming the holder, instead of interleaving checkpoints.  Released by the
        holder's exit, kills included."""
        return hold_exclusive(self.file(self.LOCK), f"run folder {str(self.path)!r}")

    def create(self, cfg: DistillConfig) -> None:
        self.ensure_fresh()
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.file(self.CONFIG), cfg.to_yaml())

    def config(self) -> DistillConfig:
        path, fix = self.file(self.CONFIG), "restore it or start a new run"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise UserError(f"{path} is unreadable (not UTF-8 text); {fix}") from None
        if not text.endswith("\n"):  # every config.yaml latentdd writes ends with one (yaml.safe_dump)
            raise UserError(f"{path} is {'empty' if not text else 'truncated (it ends mid-line)'}; {fix}")
        try:
            return config_from_yaml_text(text, f"run config {path}")
        except UserError:
            raise
        except Exception:  # noqa: BLE001  e.g. a value a setting cannot take
            raise UserError(f"{path} is unreadable; {fix}") from None

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.file(name), obj)

    def read_json(self, name: str) -> dict[str, Any]:
        p = self.file(name)
        if not p.is_file():
            raise UserError(f"{str(self.path)!r} has no {name}; run `latentdd evaluate {self.path}` first")
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise UserError(f"{p} is corrupt (not JSON); re-run `latentdd evaluate {self.path}`") from None

    def attach_log(self) -> logging.Handler:
        handler = logging.FileHandler(self.file(self.LOG), encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("latentdd").addHandler(handler)
        logging.getLogger("latentdd").setLevel(logging.INFO)
        return handler

    @staticmethod
    def detach_log(handler: logging.Handler) -> None:
        logging.getLogger("latentdd").removeHandler(handler)
        handler.close()
