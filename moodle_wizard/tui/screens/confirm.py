"""The engine's question (confirm(message, risky)): the operator answers, nothing else does.
A risky question starts on "No" and needs the y key itself; Enter alone never says yes."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from moodle_wizard.tui.screens.modals import YesNoModal
from moodle_wizard.tui.widgets.plain_text import PlainText


class ConfirmModal(YesNoModal):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, message: str, *, risky: bool = False, yes: str = "Yes",
                 no: str = "No", title: str = "The wizard asks") -> None:
        super().__init__(title=title, dialog_id="confirm-dialog", yes=yes, no=no,
                         yes_variant="warning" if risky else "primary", start_on_no=risky,
                         classes="modal" + (" -risky" if risky else ""))
        self.message = message
        self.risky = risky

    def body(self) -> ComposeResult:
        if self.risky:
            yield PlainText("RISKY — read it all; only you can answer this.", classes="risky")
        yield PlainText(self.message, id="confirm-message", classes="dialog-text")
