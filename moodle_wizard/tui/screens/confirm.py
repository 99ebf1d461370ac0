"""The engine's question (confirm(message, risky)): the operator answers, nothing else does.
A risky question starts on "No" and needs the y key itself; Enter alone never says yes."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer

from moodle_wizard.tui.widgets.plain_text import PlainText


class ConfirmModal(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, message: str, *, risky: bool = False, yes: str = "Yes",
                 no: str = "No", title: str = "The wizard asks") -> None:
        super().__init__(classes="modal" + (" -risky" if risky else ""))
        self.message = message
        self.risky = risky
        self.yes, self.no = yes, no
        self.heading = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-dialog") as dialog:
            dialog.border_title = self.heading
            if self.risky:
                yield PlainText("RISKY — read it all; only you can answer this.", classes="risky")
            yield PlainText(self.message, id="confirm-message", classes="dialog-text")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="warning" if self.risky
                             else "primary", compact=True)
                yield Button(f"{self.no} (n)", id="no", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#no" if self.risky else "#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
