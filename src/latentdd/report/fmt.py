"""Number formatting shared by every table, so the HTML, Markdown and terminal agree."""

from __future__ import annotations

from typing import Any


def pm(block: dict[str, Any] | None, digits: int = 1) -> str:
    """``mean ± std (n=runs)`` of an accuracy block, or ``-``."""
    if not block:
        return "-"
    runs = block.get("runs") or []
    n = f" (n={len(runs)})" if runs else ""
    return f"{block['mean']:.{digits}f} ± {block['std']:.{digits}f}{n}"


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 1) -> str:
    """A difference in points, with its sign (``-`` for none); a minus sign, not a hyphen."""
    if value is None:
        return "-"
    return f"{value:+.{digits}f}".replace("-", "\u2212")


def nbytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"


def seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def ratio(big: float | None, small: float | None) -> str:
    """``big / small`` as ``N×`` (how many times smaller or faster), or ``""`` when unknown."""
    if not big or not small:
        return ""
    r = big / small
    return f"{r:,.0f}×" if r >= 10 else f"{r:.1f}×"


def mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
