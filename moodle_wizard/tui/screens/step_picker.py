"""Pick one step (the palette's "Rollback step…")."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList
from textual.widgets.option_list import Option

from moodle_wizard.core.state import StepName
from moodle_wizard.tui.widgets.plain_text import PlainText


class StepPicker(ModalScreen[StepName | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, choices: list[tuple[StepName, str]]) -> None:
        super().__init__(classes="modal")
        self.question, self.choices = question, choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="step-picker-dialog") as dialog:
            dialog.border_title = "Choose a step"
            yield PlainText(self.question, classes="dialog-text")
            yield OptionList(*[Option(f"{title} ({name.value})", id=name.value)
                               for name, title in self.choices], id="step-options")
        yield Footer(compact=True)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(StepName(str(event.option.id)))

    def action_cancel(self) -> None:
        self.dismiss(None)
