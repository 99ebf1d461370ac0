"""Rollback's confirmation: exactly which steps will be undone (newest first) and what each
one's rollback does, from the step's own rollback plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from moodle_wizard.core.state import StepName
from moodle_wizard.tui.screens.modals import YesNoModal
from moodle_wizard.tui.widgets.plain_text import PlainText

if TYPE_CHECKING:
    from moodle_wizard.core.preview import StepPreview


def undo_text(steps: list[StepPreview]) -> Text:
    text = Text()
    for n, step in enumerate(steps, 1):
        text.append(f"{n}. {step.title}", style="bold")
        text.append(f" ({step.name.value})\n")
        if step.unavailable:
            text.append(f"   the step's own rollback ({step.unavailable})\n", style="dim")
        elif not step.actions:
            text.append("   nothing on the hosts to undo; only its journal entry\n", style="dim")
        for note in step.notes:
            text.append(f"   {note}\n", style="dim")
        for action in step.actions:
            where = f" [{action.host}]" if action.host else ""
            text.append(f"   - {action.title}{where}\n")
    return text


class RollbackModal(YesNoModal):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Roll back"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, to: StepName | None, steps: list[StepPreview]) -> None:
        super().__init__(title="Roll back", dialog_id="rollback-dialog", yes="Roll back",
                         no="Cancel", yes_variant="error", start_on_no=True,
                         classes="modal -risky")
        self.to, self.steps = to, steps

    def body(self) -> ComposeResult:
        first = self.steps[-1].title if self.steps else (self.to or "everything")
        yield PlainText(f"This undoes {first!r} and every step after it, newest first:",
                        classes="dialog-text")
        with VerticalScroll(id="rollback-list"):
            yield PlainText(undo_text(self.steps), id="rollback-steps")
        yield PlainText("Each undo is journaled and safe to repeat. The source's data and "
                        "Moodle's config.php are restored, never lost.", classes="dialog-text dim")
