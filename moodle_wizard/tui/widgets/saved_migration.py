"""A migration found in the saved state: its steps, progress and when it was left."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from moodle_wizard.core.state import MigrationState, StepStatus
from moodle_wizard.tui.widgets.plain_text import PlainText
from moodle_wizard.tui.widgets.step_table import STATUS


def progress_line(state: MigrationState) -> str:
    # The registry loads the engine with the steps: only when a saved migration is shown.
    from moodle_wizard.core.steps.registry import STEP_CLASSES, implemented

    steps = implemented(state)
    done = sum(1 for n in steps if state.step(n).status == StepStatus.DONE)
    current = next((n for n in steps if state.step(n).status in (
        StepStatus.RUNNING, StepStatus.FAILED, StepStatus.ROLLING_BACK)), None)
    text = f"{done} of {len(steps)} steps done"
    if current is not None:
        text += (f"; {STEP_CLASSES[current].title!r} "
                 f"{STATUS[state.step(current).status.value][2].lower()}")
    return text


class SavedMigration(PlainText):
    def __init__(self, path: Path, state: MigrationState, left: str, *,
                 id: str | None = None) -> None:
        from moodle_wizard.core.steps.registry import STEP_CLASSES, implemented

        super().__init__("", id=id, classes="saved-migration")
        self.border_title = f"saved migration: {state.migration_id}"
        text = Text()
        text.append(progress_line(state) + "\n", style="bold")
        text.append(f"left {left}; journal {path.name} in the state directory\n", style="dim")
        for name in implemented(state):
            mark, style, word = STATUS[state.step(name).status.value]
            text.append(f" {mark} ", style=style)
            text.append(f"{STEP_CLASSES[name].title:<24} {word}\n")
        text.rstrip()
        self.update(text)

