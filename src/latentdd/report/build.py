"""``latentdd report``: run folders in, one self-contained HTML file and its Markdown twin out.

Reads the runs (all of one dataset), attaches each run's references (random real subset
at its IPC, full training set under its protocol), builds the document's sections in the
order a reader asks their questions -- what was run, what it looks like, how well it
trains, how it compares, what it costs, which classes suffer, where it came from -- and
writes ``FILE.html`` and ``FILE.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import distributed
from ..errors import UserError
from ..fileio import atomic_write_text
from ..runs import code_version
from .accuracy import accuracy_section
from .collect import load_runs
from .compare import compare_table
from .cost import cost_section
from .document import Document, Section
from .fulldata import FullDataMeasurer
from .html import render_html
from .images import images_section
from .markdown import render_markdown
from .overview import overview_section
from .perclass import per_class_section
from .plots import plots_section
from .provenance import provenance_section
from .references import RunRefs, gather

#: Section ids in reading order (the browser test checks every one is rendered).
SECTION_IDS = ("overview", "images", "accuracy", "comparison", "cost", "per-class", "plots", "provenance")


@dataclass
class ReportFiles:
    html: Path
    markdown: Path


def build_document(refs: Sequence[RunRefs]) -> Document:
    runs = [r.run for r in refs]
    sections = [
        overview_section(refs),
        images_section(runs),
        accuracy_section(refs),
        Section("comparison", "Comparison grid", [compare_table(runs)]),
        cost_section(refs),
        per_class_section(refs),
        plots_section(refs),
        provenance_section(refs),
    ]
    assert tuple(s.id for s in sections) == SECTION_IDS
    first = runs[0]
    title = f"latentdd report: {first.dataset}, " + ", ".join(r.label for r in runs)
    if len(title) > 120:
        title = f"latentdd report: {first.dataset}, {len(runs)} runs"
    return Document(title, f"{len(runs)} run(s) of {first.dataset}; made by {code_version()}", sections)


def report_paths(out: str | Path) -> ReportFiles:
    html = Path(out)
    if html.suffix.lower() not in (".html", ".htm"):
        raise UserError(
            f"--out {str(out)!r} must name an .html file (the Markdown is written beside it as .md)"
        )
    if html.is_dir():
        raise UserError(f"--out {str(out)!r} is a folder; name the .html file to write")
    return ReportFiles(html, html.with_suffix(".md"))


def write_report(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    full_data: bool | None = None,
    full_data_epochs: int | None = None,
    full_data_models: Sequence[str] | None = None,
    full_data_runs: int | None = None,
    data_dir: str | None = None,
    device: str = "auto",
    progress: bool = True,
) -> ReportFiles:
    """Write the report of ``run_dirs`` to ``out`` (.html) and its Markdown twin (.md).

    ``full_data``: ``True`` trains the run's architectures on the full training set where the
    cache lacks them; ``None`` (default) uses the cache and measures only on an accelerator;
    ``False`` leaves the full-data reference out.  ``full_data_epochs`` shortens that training,
    ``full_data_models`` limits it to some of the runs' architectures and ``full_data_runs`` to
    their first N seeds.
    """
    files = report_paths(out)
    runs = load_runs(run_dirs)
    measurer = FullDataMeasurer(
        full_data,
        epochs=full_data_epochs,
        models=full_data_models,
        runs=full_data_runs,
        data_dir=data_dir,
        device=device,
        progress=progress,
    )
    doc = build_document(gather(runs, measurer))
    if distributed.is_main():  # under torchrun every rank measured its share; rank 0 writes
        atomic_write_text(files.html, render_html(doc))
        atomic_write_text(files.markdown, render_markdown(doc, files.html.name))
    distributed.barrier()
    return files
