"""The health of the result, as core/health.py found it: one row per item."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from moodle_wizard.core.health import HealthItem, healthy, verdict
from moodle_wizard.tui.widgets.plain_text import PlainText


class HealthPanel(PlainText):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="health-panel")
        self.border_title = "health"

    def show(self, items: Sequence[HealthItem] | None, *, checking: bool = False) -> None:
        self.border_title = "health"
        if checking:
            self.update(Text("checking the result from outside…", style="dim"))
            return
        if items is None:
            self.update(Text("press h to check replication, ProxySQL, the VIP and Moodle",
                             style="dim"))
            return
        # The verdict in the border, the failures on top: on 24 lines the panel shows six
        # rows, and those must be the reasons.
        self.border_title = f"health — {verdict(items)}"
        self.set_class(healthy(items), "-healthy")
        self.set_class(any(i.ok is False for i in items), "-unhealthy")
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(width=1)
        table.add_column(no_wrap=True, style="bold")
        table.add_column(ratio=1)
        rank = {False: 0, True: 1, None: 2}
        for item in sorted(items, key=lambda i: rank[i.ok]):
            mark, style = (("·", "dim") if not item.applicable else ("✓", "green") if item.ok
                           else ("✗", "red"))
            table.add_row(Text(mark, style=f"bold {style}"), item.name,
                          Text(item.detail, style="" if item.applicable else "dim"))
        self.update(table)
