"""The log: the audit trail (every command and SQL statement, secrets masked, as the engine
wrote it next to the state) and the engine's events seen by this wizard."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Footer, Log

TAIL_BYTES = 256 * 1024


def tail(path: Path, limit: int = TAIL_BYTES) -> list[str]:
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - limit))
        data = f.read()
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[1:] if size > limit else lines


class LogScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("t", "switch", "Audit/events"),
    ]

    def __init__(self, audit: Path | None, events: list[str]) -> None:
        super().__init__(classes="modal")
        self.audit, self.events = audit, events
        self.showing = "audit" if audit is not None else "events"

    def compose(self) -> ComposeResult:
        yield Log(id="log-view", classes="dialog", max_lines=20000)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._fill()

    def _fill(self) -> None:
        view = self.query_one(Log)
        view.clear()
        if self.showing == "audit":
            view.border_title = f"audit log: {self.audit}"
            try:
                lines = tail(self.audit) if self.audit else []
            except FileNotFoundError:
                lines = ["(nothing run yet: the audit log is written when the wizard runs "
                         "its first command)"]
        else:
            view.border_title = "events of the run seen by this wizard"
            lines = self.events or ["(no events of a run yet)"]
        view.write_lines(lines)

    def action_switch(self) -> None:
        self.showing = "events" if self.showing == "audit" else "audit"
        self._fill()

    def action_close(self) -> None:
        self.dismiss(None)
