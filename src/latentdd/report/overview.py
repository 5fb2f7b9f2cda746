"""The first thing a reader sees: one line per run with its headline figures."""

from __future__ import annotations

from collections.abc import Sequence

from .document import Paragraph, Section, Table
from .fmt import pct, seconds, signed
from .published import published_whole_dataset_note
from .references import RunRefs


def overview_section(refs: Sequence[RunRefs]) -> Section:
    first = refs[0].run
    sha = first.dataset_sha256
    n_train = first.stats.get("dataset", {}).get("n_train")
    rows = []
    for r in refs:
        cross = r.distilled_cross
        base = r.cross_mean(r.baseline)
        full = r.cross_mean(r.full.accuracy)
        rows.append(
            [
                r.run.label,
                pct(cross),
                signed(cross - base if cross is not None and base is not None else None),
                _of_full(r, cross, full),
                seconds(r.run.stats.get("distill_seconds")),
                str(r.run.path),
            ]
        )
    table = Table.of(
        [
            "run",
            "cross-arch mean %",
            "vs random real (points)",
            "of full data",
            "distillation time",
            "folder",
        ],
        rows,
        caption="Runs in this report",
    )
    dataset = (
        f"Dataset {first.dataset}"
        + (f", {n_train:,} training images" if n_train else "")
        + (f", content sha256 {sha[:16]}…" if sha else "")
        + f"; {len(first.synset.classes)} classes."
    )
    blocks = [Paragraph(dataset), table]
    unmeasured = [r for r in refs if not r.full.available]
    if unmeasured:
        blocks.append(Paragraph(f"Full-data reference {unmeasured[0].full.note}", "note"))
        published = published_whole_dataset_note(first.dataset)
        if published:
            blocks.append(Paragraph(published, "note"))
    return Section("overview", "Overview", blocks)


def _of_full(r: RunRefs, cross: float | None, full: float | None) -> str:
    """The distilled cross-architecture mean as a share of the full data's, or why there is none."""
    if cross is not None and full:
        return f"{pct(100 * cross / full)}%"
    if r.full.available:  # measured for some architectures only: no cross mean, so each one's share
        shares = []
        for model, block in (r.full.accuracy or {}).items():
            mine = (r.run.accuracy(model) or {}).get("mean")
            shares.append(
                f"{model} {pct(100 * mine / block['mean'])}%" if mine is not None and block["mean"] else model
            )
        return f"{', '.join(shares)} (only architecture(s) measured)"
    return "not measured"
