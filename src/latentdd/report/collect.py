"""Read run folders into :class:`Run` records, refusing what cannot be reported honestly.

A report compares runs, so everything it shows must come from the same dataset: runs
distilled from different datasets (or from different content under one name, e.g. two
image sizes) are a user mistake, not something to average over.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import DistillConfig
from ..errors import UserError
from ..runs import RunDir
from ..synth.io import SavedSynset, load_synset


@dataclass
class Run:
    """One evaluated run folder, with everything the report reads from it."""

    path: Path
    config: DistillConfig
    config_text: str
    metrics: dict[str, Any]
    stats: dict[str, Any]  # distill.json ({} for runs made before it existed)
    synset: SavedSynset
    label: str = ""

    # -- identity -------------------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        return self.synset.meta

    @property
    def method(self) -> str:
        return str(self.metrics.get("method") or self.meta.get("method") or self.config.method)

    @property
    def space(self) -> str:
        return str(self.metrics.get("space") or self.meta.get("space") or self.config.space)

    @property
    def layer(self) -> int | None:
        layer = self.metrics.get("layer", self.meta.get("layer"))
        return int(layer) if layer is not None and self.space == "latent" else None

    @property
    def ipc(self) -> int:
        return int(self.metrics.get("ipc") or self.synset.ipc)

    @property
    def dataset(self) -> str:
        return str(self.meta.get("dataset") or self.metrics.get("dataset") or self.config.dataset)

    @property
    def dataset_sha256(self) -> str | None:
        return self.meta.get("dataset_sha256") or self.stats.get("dataset", {}).get("sha256")

    @property
    def variant(self) -> str:
        """Objective and space, e.g. ``dm/pixel`` or ``dm/latent L1`` (the rows of a comparison)."""
        layer = f" L{self.layer}" if self.layer is not None else ""
        return f"{self.method}/{self.space}{layer}"

    # -- evaluation -----------------------------------------------------------------
    @property
    def models(self) -> list[str]:
        return list(self.metrics.get("accuracy", {}))

    @property
    def distill_model(self) -> str:
        return str(self.metrics.get("distill_model") or self.meta.get("model") or self.config.model).lower()

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.metrics.get("seeds", [])]

    def accuracy(self, model: str) -> dict[str, Any] | None:
        return self.metrics.get("accuracy", {}).get(model)

    def protocol_line(self) -> str:
        m = self.metrics
        seeds = ", ".join(str(s) for s in self.seeds) or "-"
        return (
            f"protocol {m.get('protocol', '?')}: {m.get('epochs', '?')} epochs, {len(self.seeds)} run(s) "
            f"per architecture, seeds {seeds}, augmentation {m.get('augmentation', 'not recorded')}"
        )

    def protocol_signature(self) -> tuple[Any, ...]:
        """What must agree for two runs' baselines to be interchangeable."""
        m = self.metrics
        return (m.get("protocol"), m.get("epochs"), tuple(self.seeds), m.get("augmentation"))


def _read_optional_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise UserError(f"{path} is corrupt (not JSON); re-run the distillation that wrote it") from None


def load_run(path: str | Path) -> Run:
    """One run folder; a folder that is not a run, or has no evaluation yet, is a UserError."""
    rd = RunDir.existing(path)
    synset_path = rd.file(RunDir.SYNSET)
    if not synset_path.is_file():
        raise UserError(
            f"run {str(rd.path)!r} has no synthetic set yet; finish it with "
            f"`latentdd distill --resume {rd.path}`"
        )
    metrics = rd.read_json(RunDir.METRICS)
    if not isinstance(metrics.get("accuracy"), dict) or not metrics["accuracy"]:
        raise UserError(
            f"{rd.file(RunDir.METRICS)} holds no accuracies; re-run `latentdd evaluate {rd.path}`"
        )
    return Run(
        path=rd.path,
        config=rd.config(),
        config_text=rd.file(RunDir.CONFIG).read_text(encoding="utf-8"),
        metrics=metrics,
        stats=_read_optional_json(rd.file(RunDir.STATS)),
        synset=load_synset(synset_path),
    )


def _check_one_dataset(runs: Sequence[Run]) -> None:
    first = runs[0]
    for run in runs[1:]:
        if run.dataset != first.dataset:
            raise UserError(
                f"runs {str(first.path)!r} ({first.dataset}) and {str(run.path)!r} ({run.dataset}) come from "
                "different datasets; report or compare the runs of one dataset at a time"
            )
        if first.dataset_sha256 and run.dataset_sha256 and run.dataset_sha256 != first.dataset_sha256:
            raise UserError(
                f"runs {str(first.path)!r} and {str(run.path)!r} both name {run.dataset!r} but saw different "
                f"data (sha256 {first.dataset_sha256[:12]} vs {run.dataset_sha256[:12]}, e.g. another image "
                "size or data folder); report them separately"
            )


def _assign_labels(runs: Sequence[Run]) -> None:
    """Short column labels (``dm/pixel IPC 10``), made unique with the folder name where needed."""
    base = [f"{r.variant} IPC {r.ipc}" for r in runs]
    for run, label in zip(runs, base, strict=True):
        run.label = label if base.count(label) == 1 else f"{label} ({run.path.name})"
    labels = [r.label for r in runs]
    for i, run in enumerate(runs):
        if labels.count(run.label) > 1:
            run.label = f"{run.label} #{i + 1}"


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """The runs to report, in the order given; all of one dataset, none twice."""
    if not paths:
        raise UserError("no run folders given; pass one or more --out folders of `latentdd distill`")
    seen: dict[Path, str] = {}
    for p in paths:
        key = Path(p).resolve()
        if key in seen:
            raise UserError(f"run folder {str(p)!r} is given twice; pass each run once")
        seen[key] = str(p)
    runs = [load_run(p) for p in paths]
    _check_one_dataset(runs)
    _assign_labels(runs)
    return runs


def baseline_for(run: Run, runs: Sequence[Run]) -> tuple[dict[str, Any] | None, str]:
    """The random-real baseline at ``run``'s IPC: its own, else that of another run at the same
    IPC evaluated under the same protocol and seeds (as the demo measures it once for both spaces).

    Returns ``(baseline, where)``; ``where`` names the run it came from (``""`` for its own).
    """
    own = run.metrics.get("baseline_random_real")
    if own:
        return own, ""
    for other in runs:
        if (
            other is not run
            and other.ipc == run.ipc
            and other.metrics.get("baseline_random_real")
            and other.protocol_signature() == run.protocol_signature()
        ):
            return other.metrics["baseline_random_real"], other.label
    return None, ""
