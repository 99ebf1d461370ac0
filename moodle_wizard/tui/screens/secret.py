"""A secret the engine needs and found neither in the environment nor in the secrets file.
Typed masked; kept in this process's memory only; never written by the wizard."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input

from moodle_wizard.tui.widgets.plain_text import PlainText


class SecretModal(ModalScreen[str]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str) -> None:
        super().__init__(classes="modal")
        self.question = question.rstrip(": ")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="secret-dialog") as dialog:
            dialog.border_title = "A secret is needed"
            yield PlainText(f"{self.question}:", classes="dialog-text")
            yield Input(password=True, compact=True, id="secret-input")
            yield PlainText("Enter to give it; it stays in memory and is never saved. To avoid "
                         "this question, put it in the inventory's [secrets] file (0600) or "
                         "the environment.", classes="dialog-text dim")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.cursor_blink = getattr(self.app, "blink", True)
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss("")
