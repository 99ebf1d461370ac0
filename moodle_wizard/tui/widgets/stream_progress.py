"""The seed stream's progress: a bar with the rate (and the limit it is held to) beside it,
then the bytes of the expected total and the time left."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import HorizontalGroup, Vertical
from textual.widgets import Label, ProgressBar

from moodle_wizard.tui.run_model import StreamProgress


class StreamProgressBar(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="stream-progress")

    def compose(self) -> ComposeResult:
        with HorizontalGroup():
            yield ProgressBar(total=100, show_eta=False, show_percentage=True)
            yield Label("", classes="stream-pace")
        yield Label("", classes="stream-label")

    def show(self, progress: StreamProgress | None) -> None:
        self.display = progress is not None
        if progress is None:
            return
        bar = self.query_one(ProgressBar)
        fraction = progress.fraction
        if fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=round(100 * fraction, 1))
        amount, pace, left = progress.parts()
        self.query_one(".stream-pace", Label).update(f"  {pace}" if pace else "")
        self.query_one(".stream-label", Label).update(f"{amount}, {left}" if left else amount)
