"""A checkbox whose state reads without colour (NO_COLOR, a monochrome terminal): ✓ when on,
blank when off."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class TickBox(Checkbox):
    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "✓" if self.value else " "
        return super()._button
