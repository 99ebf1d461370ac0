"""The Operate screen's health: one row per core/health.py item (group, item, OK / FAIL /
n/a, detail), failures first, the verdict in the border. A detail too long for its column
wraps under itself; nothing is cut off."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll

from moodle_wizard.core.health import HealthItem, healthy, verdict
from moodle_wizard.tui.widgets.plain_text import PlainText

# Failures first: on 24 lines only the first rows show, and those must be the reasons.
RANK = {False: 0, True: 1, None: 2}


def status_of(item: HealthItem) -> Text:
    if not item.applicable:
        return Text("· n/a", style="dim")
    return Text("✓ OK", style="bold green") if item.ok else Text("✗ FAIL", style="bold red")


def health_table(items: Sequence[HealthItem]) -> Table:
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False,
                  header_style="bold")
    table.add_column("group", no_wrap=True, style="dim")
    table.add_column("item", no_wrap=True, style="bold")
    table.add_column("status", no_wrap=True)
    table.add_column("detail", ratio=1, overflow="fold")
    previous = None
    for item in sorted(items, key=lambda i: RANK[i.ok]):
        # The group named once for each run of rows of that group: less to read.
        table.add_row(item.group if item.group != previous else "", item.name,
                      status_of(item), Text(item.detail, style="" if item.applicable else "dim"))
        previous = item.group
    return table


class HealthTable(VerticalScroll):
    """Focusable, so the keys scroll it when the items are more than its lines."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="health-table")
        self.border_title = "health"

    def compose(self) -> ComposeResult:
        yield PlainText("", classes="health-rows")

    def show(self, items: Sequence[HealthItem] | None, *, checking: bool = False,
             error: str | None = None) -> None:
        rows = self.query_one(".health-rows", PlainText)
        self.set_class(False, "-healthy")
        self.set_class(False, "-unhealthy")
        if checking:
            self.border_title = "health"
            rows.update(Text("checking replication, ProxySQL, the VIP and Moodle…",
                             style="dim"))
            return
        if items is None:
            self.border_title = "health"
            rows.update(Text(error, style="red") if error else
                        Text("h checks replication, ProxySQL, the VIP and Moodle", style="dim"))
            return
        self.border_title = f"health — {verdict(items)}"
        self.set_class(healthy(items), "-healthy")
        self.set_class(any(i.ok is False for i in items), "-unhealthy")
        rows.update(health_table(items))
