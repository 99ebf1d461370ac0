"""A host key that CHANGED: an error screen, not a question. The wizard refuses to connect;
the operator verifies the new key out of band and removes the old entry by hand."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer

from moodle_wizard.tui.widgets.plain_text import PlainText


class ChangedKeyScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "close", "Close")]

    def __init__(self, host: str, text: str) -> None:
        super().__init__(classes="modal -error")
        self.host, self.text = host, text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="changed-key-dialog") as dialog:
            dialog.border_title = f"REFUSED: the SSH host key of {self.host} has CHANGED"
            yield PlainText(
                "The host presents a different key than the one known_hosts trusts. That "
                "happens when a server is reinstalled - and when someone is in the middle. "
                "The wizard will not connect to it and will not ask you to accept it.",
                classes="dialog-text")
            yield PlainText(self.text, id="changed-key-text", classes="dialog-text error-text")
        yield Footer(compact=True)

    def action_close(self) -> None:
        self.dismiss(None)
