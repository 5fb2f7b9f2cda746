"""Accuracy tables: every run side by side, then each run against its references.

Every figure carries its protocol, number of runs and seeds (DESIGN.md, evaluation
honesty): the protocol lines go into the table notes, ``n=`` into each cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .document import Cell, Paragraph, Section, Table
from .fmt import pct, pm, signed
from .references import RunRefs


def _models(refs: Sequence[RunRefs]) -> list[str]:
    seen: list[str] = []
    for r in refs:
        seen += [m for m in r.run.models if m not in seen]
    return seen


def _reference_columns(refs: Sequence[RunRefs]) -> list[tuple[str, dict[str, Any], float | None]]:
    """``(header, blocks, cross-architecture mean)`` for each distinct baseline and full-data result.

    A baseline's cross mean is over its own architectures (it may be shared by runs whose lists
    differ); the full data's only over all of its run's, since it may cover a subset of them."""
    signatures = {r.run.protocol_signature() for r in refs}
    cols: list[tuple[str, dict[str, Any], float | None]] = []
    seen: set[tuple[Any, ...]] = set()
    # Runs with their own baseline first: a borrowed one is the same measurement.
    ordered = sorted(refs, key=lambda r: bool(r.baseline_from))
    for kind in ("random real", "full data"):
        for r in ordered:
            blocks = r.baseline if kind == "random real" else r.full.accuracy
            if not blocks:
                continue
            key = (kind, r.run.ipc if kind == "random real" else None, r.run.protocol_signature())
            if key in seen:
                continue
            seen.add(key)
            header = f"random real IPC {r.run.ipc}" if kind == "random real" else "full data"
            if len(signatures) > 1:  # say which protocol each reference column belongs to
                epochs = r.full.epochs if kind == "full data" else r.run.metrics.get("epochs")
                header += f" ({r.run.metrics.get('protocol')}, {epochs} ep, {len(r.run.seeds)} seed(s))"
            cross = r.reference_cross(blocks) if kind == "random real" else r.cross_mean(blocks)
            cols.append((header, blocks, cross))
    return cols


def side_by_side(refs: Sequence[RunRefs]) -> Table:
    """Rows: architectures and the cross-architecture mean; columns: runs, then references.
    The best distilled set of each row is bold."""
    models = _models(refs)
    distill_models = {r.run.distill_model for r in refs}
    ref_cols = _reference_columns(refs)
    rows: list[list[Cell]] = []
    for m in models:
        label = m + (" (distill model)" if distill_models == {m} else "")
        cells = [Cell(pm(r.run.accuracy(m))) for r in refs]
        means = [(r.run.accuracy(m) or {}).get("mean") for r in refs]
        _mark_best(cells, means)
        rows.append([Cell(label), *cells, *(Cell(pm(blocks.get(m))) for _, blocks, _ in ref_cols)])
    cross = [r.distilled_cross for r in refs]
    cross_cells = [Cell(pct(v)) for v in cross]
    _mark_best(cross_cells, cross)
    rows.append(
        [Cell("cross-architecture mean"), *cross_cells, *(Cell(pct(cross)) for _, _, cross in ref_cols)]
    )
    notes = [f"{r.run.label}: {r.run.protocol_line()}; distilled with {r.run.distill_model}" for r in refs]
    notes.append(
        "mean ± std over n networks trained per architecture (std over runs, population); "
        "bold: the best distilled set of the row."
    )
    notes.append("The cross-architecture mean leaves out the architecture used to distill.")
    missing_full = [r for r in refs if not r.full.available]
    if missing_full:
        notes.append(f"Full data: {missing_full[0].full.note}")
    return Table(
        ["architecture", *(r.run.label for r in refs), *(h for h, _, _ in ref_cols)],
        rows,
        caption="Test accuracy (%) of fresh networks trained on each set",
        notes=notes,
    )


def _mark_best(cells: list[Cell], values: list[float | None]) -> None:
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return
    top = max(present)
    for cell, v in zip(cells, values, strict=True):
        cell.best = v is not None and abs(v - top) < 1e-9


def per_run(r: RunRefs) -> Table:
    """One run against its references, with every individual run's accuracy."""
    rows = []
    for m in r.run.models:
        acc = r.run.accuracy(m) or {}
        base = (r.baseline or {}).get(m)
        full = (r.full.accuracy or {}).get(m)
        of_full = 100.0 * acc["mean"] / full["mean"] if full and full["mean"] else None
        rows.append(
            [
                m + (" *" if m == r.run.distill_model else ""),
                pm(acc),
                pm(base),
                signed(acc["mean"] - base["mean"] if base else None),
                pm(full),
                pct(of_full) + ("%" if of_full is not None else ""),
                ", ".join(f"{v:.1f}" for v in acc.get("runs", [])),
            ]
        )
    cross = r.distilled_cross
    base_cross = r.cross_mean(r.baseline)
    full_cross = r.cross_mean(r.full.accuracy)
    rows.append(
        [
            "cross-architecture mean",
            pct(cross),
            pct(base_cross),
            signed(cross - base_cross if cross is not None and base_cross is not None else None),
            pct(full_cross),
            pct(100 * cross / full_cross) + "%" if cross is not None and full_cross else "-",
            "",
        ]
    )
    notes = [r.run.protocol_line() + "."]
    if r.run.distill_model in r.run.models:
        notes.append("* the architecture used to distill (left out of the cross-architecture mean).")
    if r.baseline_from:
        notes.append(f"random real baseline borrowed from {r.baseline_from} (same IPC, protocol and seeds).")
    elif not r.baseline:
        notes.append("no random real baseline was measured (evaluate without --no-baseline to get one).")
    notes.append(
        f"full data: {r.full.note}" if r.full.available else "full data: not measured (see the overview)."
    )
    return Table.of(
        [
            "architecture",
            "distilled",
            f"random real IPC {r.run.ipc}",
            "Δ vs random",
            "full data",
            "of full data",
            "each run",
        ],
        rows,
        caption=f"{r.run.label} ({r.run.path})",
        notes=notes,
    )


def accuracy_section(refs: Sequence[RunRefs]) -> Section:
    blocks: list[Any] = [side_by_side(refs)]
    if len(refs) > 1:
        blocks.append(Paragraph("Each run against its references:"))
    blocks += [per_run(r) for r in refs]
    return Section("accuracy", "Test accuracy", blocks)
