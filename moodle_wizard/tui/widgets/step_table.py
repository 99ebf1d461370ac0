"""One row per step: state, elapsed time, last message. The cursor picks the step in focus."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from moodle_wizard.tui.clock import duration
from moodle_wizard.tui.run_model import RunModel, StepRow

STATUS = {
    "pending": ("·", "dim", "pending"),
    "running": ("▶", "bold cyan", "running"),
    "done": ("✓", "bold green", "done"),
    "failed": ("✗", "bold red", "FAILED"),
    "rolling-back": ("◀", "bold yellow", "rolling back"),
    "rolled-back": ("↺", "yellow", "rolled back"),
}


# step, state and time columns with the cell padding of all four columns
FIXED_WIDTH = 27 + 13 + 8 + 8 + 1


class StepTable(DataTable[Text | str]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, classes="step-table")

    def on_mount(self) -> None:
        self.add_column("step", key="step", width=27)
        self.add_column("state", key="state", width=13)
        self.add_column("time", key="time", width=8)
        self.add_column("last message", key="last")

    def show(self, model: RunModel) -> None:
        now = model.clock.monotonic()
        # The last message gets what is left of the width (the full text is shown under the
        # table for the step in focus).
        room = max(12, self.size.width - FIXED_WIDTH)
        for row in model.rows.values():
            cells: tuple[Text | str, ...] = self._cells(row, now)
            last = cells[3]
            if isinstance(last, Text):
                last.truncate(room, overflow="ellipsis")
            if row.name in self.rows:
                for key, value in zip(("step", "state", "time", "last"), cells, strict=True):
                    self.update_cell(row.name, key, value)
            else:
                self.add_row(*cells, key=row.name)

    @staticmethod
    def _cells(row: StepRow, now: float) -> tuple[Text, Text, Text, Text]:
        mark, style, word = STATUS.get(row.status, ("?", "", row.status))
        elapsed = row.elapsed_now(now)
        return (Text(row.title), Text(f"{mark} {word}", style=style),
                Text(duration(elapsed) if elapsed is not None else ""), Text(row.last))

    @property
    def selected(self) -> str | None:
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    def select(self, step: str) -> None:
        if step in self.rows:
            self.move_cursor(row=self.get_row_index(step))
