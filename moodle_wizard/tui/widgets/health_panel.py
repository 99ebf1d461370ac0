"""The health of the result: replication, ProxySQL, the VIP, Moodle through it."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from moodle_wizard.tui.ops import HealthItem
from moodle_wizard.tui.widgets.plain_text import PlainText


class HealthPanel(PlainText):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="health-panel")
        self.border_title = "health"

    def show(self, items: list[HealthItem] | None, *, checking: bool = False) -> None:
        if checking:
            self.update(Text("checking the result from outside…", style="dim"))
            return
        if items is None:
            self.update(Text("press h to check replication, ProxySQL, the VIP and Moodle",
                             style="dim"))
            return
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(width=1)
        table.add_column(no_wrap=True, style="bold")
        table.add_column(ratio=1)
        for item in items:
            mark, style = (("✓", "green") if item.ok else ("·", "dim") if item.ok is None
                           else ("✗", "red"))
            table.add_row(Text(mark, style=f"bold {style}"), f"{item.group} {item.label}",
                          Text(item.detail, style="" if item.ok is not None else "dim"))
        self.update(table)
