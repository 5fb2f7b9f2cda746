"""Per-class accuracy: which classes a distilled set fails to teach.

An overall accuracy hides classes that collapse (e.g. shirt vs T-shirt).  Each class of
each architecture is set against the full-data model (or, when the full data was not
measured, the random-real baseline if it recorded per-class figures), and the classes
that lose most are named in a sentence above the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .document import Paragraph, Section, Table
from .fmt import mean, pct, signed
from .references import RunRefs

CALL_OUT = 3


def reference_per_class(r: RunRefs) -> tuple[dict[str, list[float | None]], str]:
    """``({model: per-class %}, name)`` of the best reference available, or ``({}, "")``."""
    if r.full.available and r.full.per_class:
        return r.full.per_class, "full data"
    base = {m: b["per_class"] for m, b in (r.baseline or {}).items() if b.get("per_class")}
    if base:
        return base, f"random real IPC {r.run.ipc}"
    return {}, ""


def per_class_blocks(r: RunRefs) -> list[Any]:
    classes = r.run.synset.classes
    distilled = r.run.metrics.get("per_class", {})
    models = [m for m in r.run.models if m in distilled]
    if not models:
        return [
            Paragraph(
                f"{r.run.label}: metrics.json holds no per-class accuracy; re-run "
                f"`latentdd evaluate {r.run.path}`.",
                "note",
            )
        ]
    ref, ref_name = reference_per_class(r)
    rows, gaps = [], []
    for c, name in enumerate(classes):
        cells, deltas = [name], []
        for m in models:
            d = distilled[m][c]
            ref_v = ref[m][c] if m in ref else None
            if ref_v is None:
                cells.append(pct(d))
                continue
            delta = d - ref_v if d is not None else None
            deltas.append(delta)
            cells.append(f"{pct(d)} / {pct(ref_v)} ({signed(delta)})")
        gap = mean(deltas)
        gaps.append(gap)
        rows.append([*cells, signed(gap)] if ref else cells)
    header = [
        "class",
        *(f"{m}: distilled / {ref_name} (Δ)" if m in ref else f"{m}: distilled" for m in models),
    ]
    if ref:
        header.append("mean Δ")
    return [
        Table.of(
            header,
            rows,
            caption=f"{r.run.label}: per-class test accuracy (%)",
            notes=[r.run.protocol_line() + "."],
            summary=_call_out(
                r, classes, [m for m in models if m in ref] or models, distilled, gaps, ref_name
            ),
        )
    ]


def _call_out(
    r: RunRefs,
    classes: list[str],
    models: list[str],
    distilled: dict[str, list[float | None]],
    gaps: list[float | None],
    ref_name: str,
) -> str:
    if ref_name:
        order = sorted((g, c) for c, g in enumerate(gaps) if g is not None and g < 0)[:CALL_OUT]
        if not order:
            return f"{r.run.label}: no class loses accuracy against the {ref_name}."
        named = ", ".join(f"{classes[c]} ({signed(g)} points)" for g, c in order)
        return (
            f"{r.run.label}: the classes that lose most against the {ref_name} "
            f"(mean over {len(models)} architecture(s)): {named}."
        )
    means = [mean([distilled[m][c] for m in models]) for c in range(len(classes))]
    order = sorted((v, c) for c, v in enumerate(means) if v is not None)[:CALL_OUT]
    named = ", ".join(f"{classes[c]} ({pct(v)}%)" for v, c in order)
    return (
        f"{r.run.label}: weakest classes of the distilled-data models: {named}. No per-class "
        "reference: the full data was not measured (see the accuracy section) and the random "
        "real baseline records no per-class accuracy."
    )


def per_class_section(refs: Sequence[RunRefs]) -> Section:
    blocks: list[Any] = []
    for r in refs:
        blocks += per_class_blocks(r)
    return Section("per-class", "Per-class accuracy", blocks)
