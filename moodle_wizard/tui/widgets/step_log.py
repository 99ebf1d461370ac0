"""The live log of the step in focus."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widgets import Log

# Lines written in one redraw at most: more than a screenful is never read, and writing
# thousands at once would hold the UI's loop.
WRITE_LIMIT = 400


class StepLog(Log):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=5000, auto_scroll=True, classes="step-log")
        self.step: str | None = None
        self._shown = 0

    def follow(self, step: str | None, lines: Iterable[str], total: int) -> None:
        """Show `lines` (the step's log); append only what is new when the step is the same.
        `total` is how many lines the step has logged so far (the deque may drop old ones)."""
        if step != self.step:
            self.clear()
            self.step = step
            self._shown = 0
            self.border_title = f"log: {step}" if step else "log"
        new = total - self._shown
        if new <= 0:
            return
        recent = list(lines)[-min(new, WRITE_LIMIT):]
        if new > len(recent):
            self.write_line(f"… {new - len(recent)} lines not shown (they came faster than "
                            "anyone can read)")
        self.write_lines(recent)
        self._shown = total
