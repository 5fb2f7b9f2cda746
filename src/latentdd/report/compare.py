"""``latentdd compare``: a grid of runs -- objective x space (rows) x IPC (columns) -- in one table.

The best set of each IPC column is marked, so "does the latent space beat pixels here?"
is answered at a glance.  The random real subset at each IPC is a reference row below the
grid and is never marked.  Several runs in one cell (e.g. different seeds) are averaged
and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UserError
from .collect import Run, baseline_for, load_runs
from .document import Cell, Table
from .fmt import mean, pct

CROSS = "cross"


def _value(blocks: dict[str, Any] | None, run: Run, metric: str) -> float | None:
    """``metric`` of an accuracy dict: an architecture's mean, or the cross-architecture mean."""
    if not blocks:
        return None
    if metric == CROSS:
        models = [m for m in run.models if m in blocks]
        others = [m for m in models if m != run.distill_model] or models
        return mean([blocks[m]["mean"] for m in others])
    block = blocks.get(metric)
    return block["mean"] if block else None


def _run_value(run: Run, metric: str) -> float | None:
    if metric == CROSS and run.metrics.get("cross_arch_mean") is not None:
        return float(run.metrics["cross_arch_mean"])
    return _value(run.metrics.get("accuracy"), run, metric)


def compare_table(runs: Sequence[Run], metric: str = CROSS) -> Table:
    metric = metric.lower()
    known = sorted({m for r in runs for m in r.models})
    if metric != CROSS and metric not in known:
        raise UserError(
            f"--metric {metric!r} is not an evaluated architecture of these runs; "
            f"use {CROSS} or one of: {', '.join(known)}"
        )
    ipcs = sorted({r.ipc for r in runs})
    variants = list(dict.fromkeys(r.variant for r in runs))
    cells: dict[tuple[str, int], list[float]] = {}
    for r in runs:
        v = _run_value(r, metric)
        if v is not None:
            cells.setdefault((r.variant, r.ipc), []).append(v)
    rows: list[list[Cell]] = []
    for variant in variants:
        row = [Cell(variant)]
        for ipc in ipcs:
            vals = cells.get((variant, ipc), [])
            text = pct(mean(vals)) + (f" ({len(vals)} runs)" if len(vals) > 1 else "") if vals else "-"
            row.append(Cell(text))
        rows.append(row)
    for j, ipc in enumerate(ipcs, start=1):
        col = [mean(cells.get((v, ipc), [])) for v in variants]
        present = [x for x in col if x is not None]
        if len(present) >= 2:
            top = max(present)
            for i, x in enumerate(col):
                rows[i][j].best = x is not None and abs(x - top) < 1e-9
    base_row = [Cell("random real (reference)")]
    for ipc in ipcs:
        vals = []
        for r in runs:
            if r.ipc == ipc:
                base, _ = baseline_for(r, runs)
                vals.append(_value(base, r, metric))
        base_row.append(Cell(pct(mean(vals))))
    rows.append(base_row)
    what = "cross-architecture mean" if metric == CROSS else metric
    protocols = sorted({r.protocol_line() for r in runs})
    notes = [
        "best of each IPC column marked (bold in Markdown and HTML, * in the terminal); the random real row is a reference, never marked.",
        *protocols,
    ]
    return Table(
        ["objective/space", *(f"IPC {i}" for i in ipcs)],
        rows,
        caption=f"{runs[0].dataset}: {what} test accuracy (%) by objective/space and IPC",
        notes=notes,
    )


def compare_runs(paths: Sequence[str | Path], metric: str = CROSS) -> Table:
    """Load ``paths`` (one dataset) and lay them out as one comparison grid."""
    return compare_table(load_runs(paths), metric)
