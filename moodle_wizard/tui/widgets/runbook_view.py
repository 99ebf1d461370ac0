"""The runbook (or any long Markdown): drawn by Rich in one pass. Textual's Markdown widget
builds a widget per block, which takes seconds for a runbook of hundreds of lines and would
hold the UI's loop that long; this takes tens of milliseconds."""

from __future__ import annotations

from rich.markdown import Markdown

from moodle_wizard.tui.widgets.plain_text import PlainText


class RunbookView(PlainText):
    def __init__(self, text: str = "", *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.show(text)

    def show(self, text: str) -> None:
        self.text = text
        self.update(Markdown(text, code_theme="ansi_dark", hyperlinks=False) if text else "")
