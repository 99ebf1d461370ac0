"""The next start after a dropped session: offer to resume the saved migration (the engine
reattaches to the remote job), to roll it back, or to leave it for now."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer

from moodle_wizard.core.state import MigrationState
from moodle_wizard.tui.widgets.plain_text import PlainText
from moodle_wizard.tui.widgets.saved_migration import progress_line


class ResumeModal(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "answer('resume')", "Resume"),
        Binding("b", "answer('rollback')", "Roll back…"),
        Binding("n,escape", "answer(None)", "Not now"),
    ]

    def __init__(self, state: MigrationState, left: str) -> None:
        super().__init__(classes="modal")
        self.state, self.left = state, left

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="resume-dialog") as dialog:
            dialog.border_title = "Resume?"
            yield PlainText(f"Migration {self.state.migration_id!r} was left {self.left}: "
                         f"{progress_line(self.state)}.", id="resume-text",
                         classes="dialog-text")
            yield PlainText("Resuming continues where the journal stopped: an action that was in "
                         "flight is checked, not redone, and a seed stream still running on "
                         "the source is reattached.", classes="dialog-text dim")
            with Horizontal(classes="buttons"):
                yield Button("Resume (r)", id="resume", variant="primary", compact=True)
                yield Button("Roll back… (b)", id="rollback", compact=True)
                yield Button("Not now (n)", id="later", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#resume", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        answer = event.button.id
        self.dismiss(answer if answer in ("resume", "rollback") else None)

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)
