"""The last cluster operation's lines on the Operate screen: its progress, then its report or
its error (tui/operate_model.py keeps them). A line too long for the width wraps: an error
or a report line is read whole at 80 columns."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from moodle_wizard.tui.operate_model import OperateLog

# Lines written in one redraw at most (as the dashboard's step log).
WRITE_LIMIT = 400


def style_of(line: str) -> str:
    if line.startswith("✗") or line.startswith("  FAILED"):
        return "red"
    if line.startswith("✓"):
        return "green"
    if line.startswith("==>"):
        return "bold"
    return ""


class OperateLogView(RichLog):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=5000, auto_scroll=True, wrap=True, markup=False,
                         highlight=False, min_width=20, classes="operate-log")
        self.run = 0
        self._shown = 0
        self.border_title = "operation"

    def follow(self, model: OperateLog) -> None:
        if model.run != self.run:
            self.clear()
            self.run, self._shown = model.run, 0
        self.border_title = model.title or "operation"
        new = model.logged - self._shown
        if new <= 0:
            return
        recent = list(model.lines)[-min(new, WRITE_LIMIT):]
        if new > len(recent):
            self.write(Text(f"… {new - len(recent)} lines not shown", style="dim"))
        for line in recent:
            self.write(Text(line, style=style_of(line)))
        self._shown = model.logged
