"""Each run with the two references its accuracy is read against.

Below: a random real subset at the same IPC (the set a distilled one must beat to be
worth its cost).  Above: the full training set under the same protocol (what the
distilled set tries to approach).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .collect import Run, baseline_for
from .fmt import mean
from .fulldata import FullData, FullDataMeasurer


@dataclass
class RunRefs:
    run: Run
    baseline: dict[str, dict[str, Any]] | None
    baseline_from: str  # label of the run whose baseline is borrowed ("" for the run's own)
    full: FullData

    def cross_mean(self, blocks: dict[str, dict[str, Any]] | None) -> float | None:
        """Mean over the architectures other than the distillation model (as ``cross_arch_mean``);
        all of them when the distillation model is the only one.  ``None`` when ``blocks`` lacks
        one of them (a full-data reference measured for ConvNet alone has no cross mean)."""
        if not blocks:
            return None
        others = [m for m in self.run.models if m != self.run.distill_model] or list(self.run.models)
        if any(m not in blocks for m in others):
            return None
        return mean([blocks[m]["mean"] for m in others])

    def reference_cross(self, blocks: dict[str, dict[str, Any]] | None) -> float | None:
        """Cross-architecture mean of a reference over *its own* architectures (for a column
        shared by several runs, whose architecture lists may differ)."""
        if not blocks:
            return None
        others = [m for m in blocks if m != self.run.distill_model] or list(blocks)
        return mean([blocks[m]["mean"] for m in others])

    @property
    def distilled_cross(self) -> float | None:
        value = self.run.metrics.get("cross_arch_mean")
        return float(value) if value is not None else self.cross_mean(self.run.metrics.get("accuracy"))


def gather(runs: Sequence[Run], measurer: FullDataMeasurer) -> list[RunRefs]:
    out = []
    for run in runs:
        baseline, where = baseline_for(run, runs)
        out.append(RunRefs(run, baseline, where, measurer.for_run(run)))
    return out
