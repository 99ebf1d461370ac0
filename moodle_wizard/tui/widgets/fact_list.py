"""What discovery found, one fact a line, each with what it means for the migration."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from moodle_wizard.tui.widgets.plain_text import PlainText

# (label, value, meaning, level) - level: "ok", "note", "warn", "bad"
Fact = tuple[str, str, str, str]
MARKS = {"ok": ("✓", "green"), "note": ("•", "cyan"), "warn": ("!", "yellow"),
         "bad": ("✗", "red")}


class FactList(PlainText):
    def __init__(self, facts: list[Fact] | None = None, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="fact-list")
        self.show(facts or [])

    def show(self, facts: list[Fact]) -> None:
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(width=1)
        table.add_column(no_wrap=True, style="bold")
        table.add_column(ratio=1)
        for label, value, meaning, level in facts:
            mark, style = MARKS.get(level, ("•", ""))
            text = Text(value)
            if meaning:
                text.append(f"  {meaning}", style="dim" if level == "ok" else style)
            table.add_row(Text(mark, style=f"bold {style}"), label, text)
        self.update(table)
