"""Where to write the runbook."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input

from moodle_wizard.tui.widgets.plain_text import PlainText


class ExportModal(ModalScreen[str]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default: str) -> None:
        super().__init__(classes="modal")
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export-dialog") as dialog:
            dialog.border_title = "Export the runbook"
            yield PlainText("Every command and SQL statement of the plan, secrets masked, as "
                         "Markdown. Write it to:", classes="dialog-text")
            yield Input(self.default, compact=True, id="export-path")
            yield PlainText("Enter to write, Esc to cancel.", classes="dialog-text dim")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.cursor_blink = getattr(self.app, "blink", True)
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss("")
