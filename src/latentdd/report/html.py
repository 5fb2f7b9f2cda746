"""Render a :class:`Document` as one self-contained HTML file.

Self-contained: images are ``data:image/png;base64`` URIs, the style sheet is inline, no
font, script or image is fetched from anywhere, so the file opens offline and can be
mailed around.  A print style sheet drops the scroll boxes and keeps tables and figures
whole across pages.  The one inline script only records, on the ``<html>`` element,
whether every image decoded and whether any script error happened (``data-images``,
``data-errors``), so a headless browser test can read the page as a person would see it;
the page reads the same without it.
"""

from __future__ import annotations

import base64
from html import escape

from .document import Block, Cell, Code, Document, Figure, Gallery, Paragraph, Section, Table

STYLE = """
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --soft: #f6f8fa; --best: #dafbe1; --note: #fff8c5; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: var(--ink);
       margin: 0 auto; padding: 24px 32px 64px; max-width: 1280px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.subtitle { color: var(--muted); margin: 0 0 16px; }
nav { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; }
nav a { margin-right: 14px; color: #0969da; text-decoration: none; white-space: nowrap; }
.scroll { overflow-x: auto; margin: 8px 0 4px; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
.caption { font-weight: 600; font-size: 13.5px; margin: 14px 0 4px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: right; vertical-align: top; }
table.numeric td { white-space: nowrap; }
table.text td, table.text th { text-align: left; overflow-wrap: anywhere; }
table.text td:first-child { white-space: nowrap; overflow-wrap: normal; }
th { background: var(--soft); }
th:first-child, td:first-child { text-align: left; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
td.best { font-weight: 700; background: var(--best) !important; }
ul.notes { color: var(--muted); font-size: 12.5px; margin: 2px 0 14px; padding-left: 18px; }
p.note { background: var(--note); border-left: 4px solid #d4a72c; padding: 6px 10px; }
pre { background: var(--soft); border: 1px solid var(--line); padding: 10px; font-size: 12px; overflow-x: auto;
      white-space: pre-wrap; column-width: 24em; column-rule: 1px solid var(--line); }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
img.pixelated { image-rendering: pixelated; image-rendering: crisp-edges; }
.gallery { display: flex; gap: 12px; align-items: flex-start; border-top: 1px solid var(--line); padding: 6px 0 0; }
.gallery h3 { flex: 0 0 120px; margin: 6px 0; font-size: 13.5px; }
.gallery .strips { display: flex; flex-wrap: wrap; gap: 2px 28px; }
.gallery figure { margin: 0 0 4px; }
.gallery figcaption { margin-top: 0; font-size: 11.5px; }
.gallery figure img { border: none; }
@media print {
  @page { margin: 14mm 12mm; }
  body { font-size: 10.5pt; padding: 0; max-width: none; }
  nav { display: none; }
  .scroll { overflow: visible; }
  table { font-size: 8.5pt; }
  th, td { padding: 2px 5px; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .tablebox, figure, .gallery, p.note { break-inside: avoid; page-break-inside: avoid; }
  table.numeric td { white-space: normal; }
  td.best { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  pre { white-space: pre-wrap; font-size: 7.5pt; overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""

SCRIPT = """
window.addEventListener("error", function () {
  var n = +(document.documentElement.dataset.errors || 0); document.documentElement.dataset.errors = n + 1;
});
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.documentElement.dataset.images = ok + "/" + imgs.length;
  if (!document.documentElement.dataset.errors) document.documentElement.dataset.errors = "0";
});
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _cell(cell: Cell, tag: str) -> str:
    cls = ' class="best"' if cell.best else ""
    return f"<{tag}{cls}>{escape(cell.text)}</{tag}>"


def render_table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    body = "\n".join("<tr>" + "".join(_cell(c, "td") for c in row) + "</tr>" for row in t.rows)
    summary = f'<p class="note">{escape(t.summary)}</p>' if t.summary else ""
    caption = f'<p class="caption">{escape(t.caption)}</p>' if t.caption else ""
    notes = "".join(f"<li>{escape(n)}</li>" for n in t.notes)
    kind = "numeric" if t.numeric else "text"
    return (
        f'<div class="tablebox">{summary}{caption}<div class="scroll"><table class="{kind}"><thead><tr>{head}'
        f"</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + "</div>"
    )


def render_figure(f: Figure) -> str:
    cls = ' class="pixelated"' if f.pixelated else ""
    return (
        f'<figure><img src="{data_uri(f.png)}"{cls} alt="{escape(f.alt or f.caption)}">'
        f"<figcaption>{escape(f.caption)}</figcaption></figure>"
    )


def render_block(block: Block) -> str:
    if isinstance(block, Table):
        return render_table(block)
    if isinstance(block, Figure):
        return render_figure(block)
    if isinstance(block, Gallery):
        strips = "".join(render_figure(f) for f in block.figures)
        return f'<div class="gallery"><h3>{escape(block.title)}</h3><div class="strips">{strips}</div></div>'
    if isinstance(block, Code):
        caption = f'<p class="caption">{escape(block.caption)}</p>' if block.caption else ""
        return f'<figure class="code">{caption}<pre><code>{escape(block.text)}</code></pre></figure>'
    if isinstance(block, Paragraph):
        cls = ' class="note"' if block.kind == "note" else ""
        return f"<p{cls}>{escape(block.text)}</p>"
    raise TypeError(f"cannot render {type(block).__name__}")


def render_section(s: Section) -> str:
    body = "\n".join(render_block(b) for b in s.blocks)
    return f'<section id="{escape(s.id)}">\n<h2>{escape(s.title)}</h2>\n{body}\n</section>'


def render_html(doc: Document) -> str:
    nav = "".join(f'<a href="#{escape(s.id)}">{escape(s.title)}</a>' for s in doc.sections)
    sections = "\n".join(render_section(s) for s in doc.sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(doc.title)}</title>
<style>{STYLE}</style>
<script>{SCRIPT}</script>
</head>
<body>
<header><h1>{escape(doc.title)}</h1><p class="subtitle">{escape(doc.subtitle)}</p></header>
<nav>{nav}</nav>
{sections}
</body>
</html>
"""
