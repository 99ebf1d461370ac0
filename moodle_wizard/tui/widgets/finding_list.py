"""The engine's preflight findings (errors, questions, warnings) with what each means."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from moodle_wizard.core.journal import Finding
from moodle_wizard.tui.widgets.plain_text import PlainText

LEVELS = {
    "error": ("✗", "red", "must be fixed before anything runs"),
    "question": ("?", "yellow", "you will be asked when the step runs"),
    "warning": ("!", "yellow", "worth knowing; does not stop the migration"),
}


class FindingList(PlainText):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, classes="finding-list")

    def show(self, findings: list[Finding], *, empty: str = "") -> None:
        if not findings:
            self.update(Text(empty or "The read-only checks of every step found nothing to "
                             "worry about.", style="green"))
            return
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(width=1)
        table.add_column(ratio=1)
        for f in sorted(findings, key=lambda f: list(LEVELS).index(f.level)
                        if f.level in LEVELS else 9):
            mark, style, meaning = LEVELS.get(f.level, ("•", "", ""))
            text = Text(f"{f.step}: ", style="bold")
            text.append(f.message)
            risky = " This question is risky: only you can answer it." if f.risky else ""
            text.append(f"\n{f.level} — {meaning}.{risky}", style=f"dim {style}")
            table.add_row(Text(mark, style=f"bold {style}"), text)
        self.update(table)

    @staticmethod
    def errors(findings: list[Finding]) -> list[Finding]:
        return [f for f in findings if f.level == "error"]
