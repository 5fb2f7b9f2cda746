"""The run's human view: image grids, accuracy tables, cost figures, provenance.

``write_report(run_dirs, "report.html")`` writes the self-contained HTML report and its
Markdown twin; ``compare_runs(run_dirs)`` lays runs out as one objective/space x IPC grid.
"""

from .build import write_report
from .compare import compare_runs

__all__ = ["compare_runs", "write_report"]
