"""Render a :class:`Document` as Markdown: the same sections and tables as the HTML.

Pictures cannot live in a Markdown file without side files, so figures and image
galleries are named (with a pointer to the HTML) instead of embedded.
"""

from __future__ import annotations

from .document import Block, Cell, Code, Document, Figure, Gallery, Paragraph, Section, Table


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _cell(cell: Cell) -> str:
    text = _escape(cell.text)
    return f"**{text}**" if cell.best and text not in ("", "-") else text


def render_table(t: Table) -> str:
    lines = [f"> **Note:** {_escape(t.summary)}", ""] if t.summary else []
    if t.caption:
        lines += [f"**{_escape(t.caption)}**", ""]
    lines.append("| " + " | ".join(_escape(c) or " " for c in t.columns) + " |")
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(t.columns))) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in t.rows]
    if t.notes:
        lines.append("")
        lines += [f"- {n}" for n in t.notes]
    return "\n".join(lines)


def render_block(block: Block, html_name: str) -> str:
    if isinstance(block, Table):
        return render_table(block)
    if isinstance(block, Figure):
        return f"*Figure (in {html_name}): {block.caption}*"
    if isinstance(block, Gallery):
        return ""
    if isinstance(block, Code):
        caption = f"**{block.caption}**\n\n" if block.caption else ""
        return f"{caption}```{block.language}\n{block.text.rstrip()}\n```"
    if isinstance(block, Paragraph):
        return f"> **Note:** {block.text}" if block.kind == "note" else block.text
    raise TypeError(f"cannot render {type(block).__name__}")


def render_section(s: Section, html_name: str) -> str:
    parts = [f"## {s.title}"]
    if any(isinstance(b, Gallery) for b in s.blocks):
        parts.append(f"The images are embedded in {html_name}.")
    parts += [text for b in s.blocks if (text := render_block(b, html_name))]
    return "\n\n".join(parts)


def render_markdown(doc: Document, html_name: str = "the HTML report") -> str:
    body = "\n\n".join(render_section(s, html_name) for s in doc.sections)
    return f"# {doc.title}\n\n{doc.subtitle}\n\n{body}\n"
