"""One labelled input of a form, with the engine's validation message under it."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from moodle_wizard.tui.widgets.plain_text import PlainText

Check = Callable[[str], str | None]


class FormField(Vertical):
    """Label, compact input, hint; `check` returns the problem with a value, or None. The
    message is shown as the operator types."""

    class Changed(Message):
        def __init__(self, field: FormField) -> None:
            super().__init__()
            self.field = field

        @property
        def control(self) -> FormField:
            return self.field

    def __init__(self, label: str, value: str = "", *, check: Check | None = None,
                 hint: str = "", placeholder: str = "", password: bool = False,
                 id: str | None = None, name: str | None = None) -> None:
        super().__init__(id=id, name=name, classes="form-field")
        self.label = label
        self.check = check
        self.hint = hint
        self._input = Input(value, placeholder=placeholder, password=password, compact=True,
                            id=f"{id}-input" if id else None)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(self.label, classes="form-label")
            yield self._input
        hint = PlainText(self.hint, classes="form-hint")
        hint.display = bool(self.hint)
        yield hint

    def on_mount(self) -> None:
        self._input.cursor_blink = getattr(self.app, "blink", True)

    @property
    def input(self) -> Input:
        return self._input

    @property
    def value(self) -> str:
        return self._input.value.strip()

    @value.setter
    def value(self, value: str) -> None:
        self._input.value = value

    def problem(self) -> str | None:
        return self.check(self.value) if self.check else None

    def show_problem(self) -> str | None:
        problem = self.problem()
        hint = self.query_one(".form-hint", Static)
        hint.update(f"✗ {problem}" if problem else self.hint)
        hint.display = bool(problem or self.hint)
        hint.set_class(problem is not None, "-error")
        self.set_class(problem is not None, "-invalid")
        return problem

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.show_problem()
        self.post_message(self.Changed(self))

    def set_hint(self, hint: str) -> None:
        """A new hint (shown when the value has no problem)."""
        self.hint = hint
        self.show_problem()

    def set_disabled(self, disabled: bool) -> None:
        self._input.disabled = disabled
