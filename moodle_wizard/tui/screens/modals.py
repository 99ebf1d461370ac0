"""The two kinds of question every modal of the wizard asks: yes or no (the engine's confirm, a
new host key, a rollback), and a line of text (a secret, a path). Each concrete modal gives its
text, its keys and its labels; how it looks, where the focus starts and how it answers are
here, once."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input
from textual.widgets.button import ButtonVariant

from moodle_wizard.tui.widgets.plain_text import PlainText


class YesNoModal(ModalScreen[bool]):
    """A question answered by two buttons or their keys. `start_on_no`: the focus starts on
    the refusing button, so Enter alone never says yes to something risky."""

    # The buttons' ids and the keys their labels name. Each modal binds those keys itself
    # (BINDINGS are inherited: keys declared here would answer every subclass's question).
    YES: ClassVar[tuple[str, str]] = ("yes", "y")
    NO: ClassVar[tuple[str, str]] = ("no", "n")

    def __init__(self, *, title: str, dialog_id: str, yes: str = "Yes", no: str = "No",
                 yes_variant: ButtonVariant = "primary", start_on_no: bool = False,
                 classes: str = "modal") -> None:
        super().__init__(classes=classes)
        self.heading, self.dialog_id = title, dialog_id
        self.yes, self.no = yes, no
        self.yes_variant, self.start_on_no = yes_variant, start_on_no

    def body(self) -> ComposeResult:
        """The question, above the buttons."""
        yield from ()

    def compose(self) -> ComposeResult:
        (yes_id, yes_key), (no_id, no_key) = self.YES, self.NO
        with Vertical(classes="dialog", id=self.dialog_id) as dialog:
            dialog.border_title = self.heading
            yield from self.body()
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} ({yes_key})", id=yes_id, variant=self.yes_variant,
                             compact=True)
                yield Button(f"{self.no} ({no_key})", id=no_id, compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(f"#{(self.NO if self.start_on_no else self.YES)[0]}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == self.YES[0])

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class InputModal(ModalScreen[str]):
    """One line of text: Enter gives it, Escape gives "" (nothing)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, *, title: str, prompt: str, hint: str, dialog_id: str, input_id: str,
                 value: str = "", password: bool = False, strip: bool = False) -> None:
        super().__init__(classes="modal")
        self.heading, self.prompt, self.hint = title, prompt, hint
        self.dialog_id, self.input_id = dialog_id, input_id
        self.value, self.password, self.strip = value, password, strip

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id=self.dialog_id) as dialog:
            dialog.border_title = self.heading
            yield PlainText(self.prompt, classes="dialog-text")
            yield Input(self.value, password=self.password, compact=True, id=self.input_id)
            yield PlainText(self.hint, classes="dialog-text dim")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.cursor_blink = getattr(self.app, "blink", True)
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() if self.strip else event.value)

    def action_cancel(self) -> None:
        self.dismiss("")
