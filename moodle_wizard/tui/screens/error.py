"""An error that needs reading, not a toast: what happened and what to do."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer

from moodle_wizard.tui.widgets.plain_text import PlainText


class ErrorScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "close", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__(classes="modal -error")
        self.heading, self.text = title, text

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="error-dialog") as dialog:
            dialog.border_title = self.heading
            yield PlainText(self.text, id="error-text", classes="dialog-text error-text")
        yield Footer(compact=True)

    def action_close(self) -> None:
        self.dismiss(None)
