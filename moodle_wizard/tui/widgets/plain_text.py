"""Text shown as it is: engine messages, paths and SQL are full of [brackets] that console
markup would eat. Every static text of the wizard is one of these."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static


class PlainText(Static):
    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        super().__init__(content, **kwargs)
