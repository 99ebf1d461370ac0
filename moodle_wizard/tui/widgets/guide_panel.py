"""The guided demo's panel: what the screen's step does, why, what can go wrong, and the
manual commands it replaces. Shown when the app runs as the demo (toggle with g)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll

from moodle_wizard.tui.guide import GUIDES
from moodle_wizard.tui.widgets.plain_text import PlainText


class GuidePanel(VerticalScroll):
    def __init__(self, topic: str) -> None:
        super().__init__(classes="guide-panel")
        self.topic = topic
        self.border_title = "Guide"

    def compose(self) -> ComposeResult:
        guide = GUIDES.get(self.topic)
        yield PlainText(guide.text() if guide else "", classes="guide-text")
