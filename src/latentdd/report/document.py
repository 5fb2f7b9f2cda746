"""The report as data: sections of tables, figures, text and image galleries.

Builders (``accuracy.py``, ``cost.py``, ...) produce these blocks; ``html.py`` and
``markdown.py`` render the *same* blocks, so the Markdown file beside the HTML holds
exactly the tables a reader sees in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Cell:
    """One table cell: its text, and whether it is the best of its row or column (shown bold)."""

    text: str
    best: bool = False

    def __str__(self) -> str:
        return self.text


@dataclass
class Table:
    """Rows of cells under a caption.  ``summary`` is the one sentence a reader must take
    away (shown highlighted above the table, kept on its page); ``numeric`` tables align
    right and never wrap a figure, text tables align left and wrap."""

    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    numeric: bool = True

    @staticmethod
    def of(
        columns: list[str],
        rows: list[list[Cell | str]],
        caption: str = "",
        notes: list[str] | None = None,
        summary: str = "",
        numeric: bool = True,
    ) -> Table:
        """A table whose plain-string cells are wrapped in :class:`Cell`."""
        wrapped = [[c if isinstance(c, Cell) else Cell(str(c)) for c in row] for row in rows]
        return Table(list(columns), wrapped, caption, list(notes or []), summary, numeric)


@dataclass
class Paragraph:
    text: str
    kind: str = "text"  # "text" or "note" (a caveat the reader must not miss)


@dataclass
class Code:
    text: str
    language: str = ""
    caption: str = ""


@dataclass
class Figure:
    """A PNG (bytes) with a caption; embedded as base64 in HTML, named in Markdown."""

    png: bytes
    caption: str
    alt: str = ""
    pixelated: bool = False  # nearest-neighbour scaling for upscaled synthetic images


@dataclass
class Gallery:
    """Figures laid side by side (wrapping), e.g. one class's images from every run."""

    title: str
    figures: list[Figure]


Block = Table | Paragraph | Code | Figure | Gallery


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]
