"""The text of a Textual SVG screenshot, laid out by row and column (for assertions on what a
screen shows, including what is drawn inside borders and tables)."""

from __future__ import annotations

import html
import re

_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
                   r'clip-path="url\(#[^)]*line-(\d+)\)">(.*?)</text>')
CHAR_WIDTH = 12.2  # Rich's SVG export: one terminal cell


def svg_to_text(svg: str) -> str:
    rows: dict[int, list[tuple[int, str]]] = {}
    for match in _TEXT.finditer(svg):
        x, line, text = match.groups()
        rows.setdefault(int(line), []).append((round(float(x) / CHAR_WIDTH),
                                               html.unescape(text).replace("\xa0", " ")))
    out = []
    for line in range(max(rows) + 1 if rows else 0):
        cells: list[str] = []
        for col, text in sorted(rows.get(line, [])):
            cells.extend(" " * (col - len(cells)))
            cells[col:col + len(text)] = list(text)
        out.append("".join(cells).rstrip())
    return "\n".join(out)
