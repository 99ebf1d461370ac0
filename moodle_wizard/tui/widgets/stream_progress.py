"""The seed stream's progress: a bar, bytes of the expected total, and the rate."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar

from moodle_wizard.tui.run_model import StreamProgress


class StreamProgressBar(Vertical):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="stream-progress")

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False, show_percentage=True)
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
        self.query_one(".stream-label", Label).update(progress.describe())
