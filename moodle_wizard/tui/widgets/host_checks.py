"""Per host: ✓ or ✗ and why, as "Test connections" finds out."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from moodle_wizard.tui.results import HostCheck
from moodle_wizard.tui.widgets.plain_text import PlainText


class HostChecks(PlainText):
    def __init__(self, id: str | None = None) -> None:
        super().__init__("", id=id, classes="host-checks")
        self.checks: dict[str, HostCheck | None] = {}
        self._draw()

    def expect(self, hosts: list[str]) -> None:
        self.checks = {name: None for name in hosts}
        self._draw()

    def record(self, check: HostCheck) -> None:
        self.checks[check.name] = check
        self._draw()

    def _draw(self) -> None:
        if not self.checks:
            self.update("Not tested yet: press ctrl+t to test the connections.")
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(width=1)
        table.add_column(no_wrap=True)
        table.add_column(ratio=1)
        for name, check in self.checks.items():
            if check is None:
                table.add_row("…", name, Text("connecting", style="dim"))
            elif check.ok:
                table.add_row(Text("✓", style="bold green"), name, check.reason)
            else:
                reason = check.reason.removeprefix(f"{name}: ")
                table.add_row(Text("✗", style="bold red"), name, Text(reason, style="red"))
        self.update(table)

    @property
    def all_ok(self) -> bool:
        return bool(self.checks) and all(c is not None and c.ok for c in self.checks.values())
