"""F1: what the screen is for, and every key it takes."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer

from moodle_wizard.tui.widgets.runbook_view import RunbookView


def keys_markdown(screen: Screen[Any]) -> str:
    rows = []
    seen = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description or binding.action in seen:
            continue
        seen.add(binding.action)
        rows.append(f"| `{screen.app.get_key_display(binding)}` | {binding.description} |")
    rows.append("| `ctrl+p` | command palette: resume, rollback step…, export runbook, "
                "open log |")
    return "| key | does |\n|---|---|\n" + "\n".join(rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "close", "Close")]

    def __init__(self, about: Screen[Any]) -> None:
        super().__init__(classes="modal")
        self.about = about

    def compose(self) -> ComposeResult:
        text = getattr(self.about, "HELP", "") or "No help for this screen."
        label = getattr(self.about, "LABEL", "") or "moodle-wizard"
        with VerticalScroll(classes="dialog", id="help-dialog") as dialog:
            dialog.border_title = f"Help: {label}"
            yield RunbookView(f"{text}\n\n**Keys**\n\n{keys_markdown(self.about)}\n\n"
                           "Keyboard only: Tab and Shift+Tab move between fields, arrows "
                           "move in lists, Enter chooses.", id="help-text")
        yield Footer(compact=True)

    def action_close(self) -> None:
        self.dismiss(None)
