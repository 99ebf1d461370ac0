"""Toggles whose labels wrap under themselves when their line is too narrow (Textual's cut
them off with an ellipsis): TickBox, a checkbox whose state reads without colour (NO_COLOR,
a monochrome terminal: ✓ when on, blank when off), and Choice, a radio button."""

from __future__ import annotations

import textwrap

from textual.content import Content
from textual.geometry import Size
from textual.widgets import Checkbox, RadioButton
from textual.widgets._toggle_button import ToggleButton


class WrappingToggle(ToggleButton):
    def _label_lines(self, width: int) -> list[str]:
        # The button, then the label padded by one cell each side (as ToggleButton draws it).
        room = width - self._button.cell_length - 2
        text = self._label.plain
        if room < 8 or len(text) <= room:
            return [text]
        return textwrap.wrap(text, room, break_on_hyphens=False)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return min(super().get_content_width(container, viewport), container.width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._label_lines(width))

    def render(self) -> Content:
        lines = self._label_lines(self.content_region.width)
        if len(lines) == 1:
            return super().render()
        style = self.get_visual_style("toggle--label")
        indent = Content(" " * self._button.cell_length)
        parts: list[Content | str] = []
        for n, line in enumerate(lines):
            parts += [self._button if n == 0 else Content("\n") + indent,
                      Content(line).pad(1, 1).stylize_before(style)]
        return Content.assemble(*parts)


# Checkbox and RadioButton come first: Textual takes a widget's CSS type names (the
# `RadioSet > RadioButton` rules) from its first base, and neither overrides what
# WrappingToggle does, so the wrapping still applies.
class TickBox(Checkbox, WrappingToggle):
    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "✓" if self.value else " "
        return super()._button


class Choice(RadioButton, WrappingToggle):
    pass
