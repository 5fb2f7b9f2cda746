"""The run's human view: image grids, accuracy tables, cost figures, provenance.

``write_report(run_dirs, "report.html")`` writes the self-contained HTML report and its
Markdown twin; ``compare_runs(run_dirs)`` lays runs out as one objective/space x IPC grid.
Imported lazily: the engine imports :mod:`latentdd.report.grid` while distilling and
should not pay for (or cycle through) the report's imports.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compare_runs", "write_report"]


def __getattr__(name: str) -> Any:
    if name == "write_report":
        from .build import write_report

        return write_report
    if name == "compare_runs":
        from .compare import compare_runs

        return compare_runs
    raise AttributeError(f"module 'latentdd.report' has no attribute {name!r}")
