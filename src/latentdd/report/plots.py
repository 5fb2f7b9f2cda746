"""Plots where a reader would rather look than read (matplotlib, returned as PNG bytes).

Uses ``matplotlib.figure.Figure`` directly (no pyplot): no global figure state, nothing
to close, safe to call from any thread.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FuncFormatter

from .document import Figure, Paragraph, Section
from .fmt import seconds
from .references import RunRefs

DPI = 110
SPACE_COLORS = {
    "pixel": ("#1f77b4", "#6baed6", "#08519c", "#9ecae1"),
    "latent": ("#ff7f0e", "#fdae6b", "#a63603", "#fdd0a2"),
}
OTHER_COLORS = ("#7f7f7f", "#bdbdbd", "#525252")
GREYS = ("#9e9e9e", "#cfcfcf", "#6e6e6e", "#e0e0e0")
REFERENCE_COLORS = {"random real": "#9e9e9e", "full data": "#2ca02c"}


def _png(fig: MplFigure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _shade(keys: list[tuple[str, str]], key: tuple[str, str]) -> str:
    """Blue shades for pixel space, orange for latent: the ``i``-th of ``keys`` in its space gets shade ``i``."""
    space = key[0]
    shades = SPACE_COLORS.get(space, OTHER_COLORS)
    same_space = [k for k in keys if k[0] == space]
    return shades[same_space.index(key) % len(shades)]


def _variant_color(refs: Sequence[RunRefs], variant: str) -> str:
    keys = list(dict.fromkeys((r.run.space, r.run.variant) for r in refs))
    space = next(r.run.space for r in refs if r.run.variant == variant)
    return _shade(keys, (space, variant))


def _run_color(refs: Sequence[RunRefs], r: RunRefs) -> str:
    keys = [(x.run.space, x.run.label) for x in refs]
    return _shade(keys, (r.run.space, r.run.label))


def _baselines_by_ipc(refs: Sequence[RunRefs]) -> dict[int, RunRefs]:
    """One run per IPC whose baseline stands for that IPC (its own baseline preferred to a borrowed one)."""
    out: dict[int, RunRefs] = {}
    for r in sorted(refs, key=lambda x: bool(x.baseline_from)):
        if r.baseline and r.run.ipc not in out:
            out[r.run.ipc] = r
    return dict(sorted(out.items()))


def accuracy_vs_ipc(refs: Sequence[RunRefs]) -> bytes:
    """Cross-architecture mean against IPC, one line per objective/space, references dashed."""
    fig = MplFigure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    variants = list(dict.fromkeys(r.run.variant for r in refs))
    for v in variants:
        pts = sorted(
            (r.run.ipc, r.distilled_cross)
            for r in refs
            if r.run.variant == v and r.distilled_cross is not None
        )
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=v, color=_variant_color(refs, v))
    base = [(ipc, r.reference_cross(r.baseline)) for ipc, r in _baselines_by_ipc(refs).items()]
    if base:
        ax.plot(
            [b[0] for b in base],
            [b[1] for b in base],
            ls="--",
            marker="s",
            color=REFERENCE_COLORS["random real"],
            label="random real",
        )
    full = [r.cross_mean(r.full.accuracy) for r in refs if r.full.available]
    if full:
        ax.axhline(max(full), ls=":", color=REFERENCE_COLORS["full data"], label="full data")
    ipcs = sorted({r.run.ipc for r in refs})
    ax.set_xscale("log")
    ax.set_xticks(ipcs, [str(i) for i in ipcs])
    ax.minorticks_off()
    ax.set_xlabel("images per class (IPC)")
    ax.set_ylabel("cross-architecture mean accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def accuracy_vs_time(refs: Sequence[RunRefs]) -> bytes:
    """Cross-architecture mean against distillation time, each run labelled with its IPC."""
    fig = MplFigure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for v in dict.fromkeys(r.run.variant for r in refs):
        pts = [
            (r.run.stats["distill_seconds"], r.distilled_cross, r.run.ipc)
            for r in refs
            if r.run.variant == v and "distill_seconds" in r.run.stats and r.distilled_cross is not None
        ]
        if not pts:
            continue
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], label=v, s=40, color=_variant_color(refs, v))
        for x, y, ipc in pts:
            ax.annotate(f"IPC {ipc}", (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    times = [r.run.stats["distill_seconds"] for r in refs if r.run.stats.get("distill_seconds")]
    log = bool(times) and max(times) / min(times) > 20
    if log:
        ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: seconds(v) if v > 0 else "0"))
    ax.set_xlabel("distillation time" + (" (log scale)" if log else ""))
    ax.set_ylabel("cross-architecture mean accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def grouped_bars(refs: Sequence[RunRefs]) -> bytes:
    """Accuracy per architecture: one bar per run (blue: pixel, orange: latent), then references."""
    models: list[str] = []
    for r in refs:
        models += [m for m in r.run.models if m not in models]
    series: list[tuple[str, str, dict[str, Any]]] = [
        (r.run.label, _run_color(refs, r), r.run.metrics["accuracy"]) for r in refs
    ]
    for i, (ipc, r) in enumerate(_baselines_by_ipc(refs).items()):
        series.append((f"random real IPC {ipc}", GREYS[i % len(GREYS)], r.baseline or {}))
    full = next((r.full.accuracy for r in refs if r.full.available), None)
    if full:
        series.append(("full data", REFERENCE_COLORS["full data"], full))
    width = 0.8 / len(series)
    fig = MplFigure(figsize=(max(6.4, 1.2 * len(models) * max(1, len(series) / 3)), 4.0))
    ax = fig.add_subplot()
    for i, (label, color, blocks) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j, m in enumerate(models) if m in blocks]
        ys = [blocks[m]["mean"] for m in models if m in blocks]
        errs = [blocks[m].get("std", 0.0) for m in models if m in blocks]
        hatch = "//" if label.startswith("random real") else None
        ax.bar(xs, ys, width, yerr=errs, label=label, color=color, hatch=hatch, capsize=2, edgecolor="white")
    ax.set_xticks(range(len(models)), models)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(3, len(series)), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return _png(fig)


def plots_section(refs: Sequence[RunRefs]) -> Section:
    blocks: list[Any] = [
        Figure(
            grouped_bars(refs),
            "Accuracy per architecture: pixel (blue) and latent (orange) "
            "sets beside the random real subset and the full data; error bars: std over runs.",
            alt="grouped bars of accuracy per architecture",
        )
    ]
    if len({r.run.ipc for r in refs}) >= 2:
        blocks.append(
            Figure(
                accuracy_vs_ipc(refs),
                "Cross-architecture mean accuracy against images per class.",
                alt="accuracy against IPC",
            )
        )
    else:
        blocks.append(
            Paragraph("Accuracy against IPC needs runs at two or more IPCs; pass more run folders.", "note")
        )
    if sum("distill_seconds" in r.run.stats for r in refs) >= 2:
        blocks.append(
            Figure(
                accuracy_vs_time(refs),
                "Cross-architecture mean accuracy against distillation time.",
                alt="accuracy against distillation time",
            )
        )
    else:
        blocks.append(
            Paragraph(
                "Accuracy against distillation time needs two or more runs with a recorded "
                "distillation time.",
                "note",
            )
        )
    return Section("plots", "Plots", blocks)
