"""Render a :class:`Table` for the terminal: aligned columns, ``*`` after the marked (best) cells."""

from __future__ import annotations

from .document import Table

MARK = " *"


def render_text(t: Table) -> str:
    marks = any(c.best for row in t.rows for c in row)
    pad = " " * len(MARK) if marks else ""
    cells = [
        [c.text if i == 0 else c.text + (MARK if c.best else pad) for i, c in enumerate(row)]
        for row in t.rows
    ]
    header = [c if i == 0 else c + pad for i, c in enumerate(t.columns)]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(t.columns))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    out = [t.caption] if t.caption else []
    out += [line(header), line(["-" * w for w in widths]), *(line(r).rstrip() for r in cells)]
    out += [f"  {n}" for n in t.notes]
    return "\n".join(out)
