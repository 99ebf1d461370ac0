"""Pick one of a few named choices, each with its line of explanation (the Operate screen's
switchover target, failover target, host to rejoin, drill)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList
from textual.widgets.option_list import Option

from moodle_wizard.tui.widgets.plain_text import PlainText


class ChoiceModal(ModalScreen[str | None]):
    """Enter picks the highlighted choice (its id); Escape picks nothing (None)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, question: str, choices: list[tuple[str, str]]) -> None:
        super().__init__(classes="modal")
        self.heading, self.question, self.choices = title, question, choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="choice-dialog") as dialog:
            dialog.border_title = self.heading
            yield PlainText(self.question, classes="dialog-text")
            yield OptionList(*[Option(label, id=key) for key, label in self.choices],
                             id="choice-options")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(str(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
