"""What every wizard screen has: a header that says where you are, the guide panel (demo),
F1 help, and a footer with every key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer, Header

from moodle_wizard.tui.widgets.guide_panel import GuidePanel

if TYPE_CHECKING:
    from moodle_wizard.tui.app import WizardApp
    from moodle_wizard.tui.widgets.form_field import FormField

STEPS_TOTAL = 9


class WizardScreen(Screen[None]):
    TOPIC: ClassVar[str] = ""
    NUMBER: ClassVar[int] = 0
    LABEL: ClassVar[str] = ""
    HELP: ClassVar[str] = ""

    @property
    def wizard(self) -> WizardApp:
        # The app's type for the checker only: screens never import the app at run time (the
        # app imports them), so the two stay out of an import cycle.
        return cast("WizardApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        with Container(id="frame"):
            with Container(id="main"):
                yield from self.body()
            yield GuidePanel(self.TOPIC)
        yield Footer(compact=True)

    def body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.sub_title = (f"{self.NUMBER}/{STEPS_TOTAL} {self.LABEL}" if self.NUMBER
                          else self.LABEL)


class FlowScreen(WizardScreen):
    """Screens 2-8: back and next through the wizard."""

    NEXT: ClassVar[str] = ""
    BACK: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next", "Next"),
        Binding("escape", "back", "Back"),
    ]

    def action_next(self) -> None:
        if self.leave():
            self.wizard.goto(self.NEXT)

    def action_back(self) -> None:
        self.leave(validate=False)
        self.wizard.goto(self.BACK)

    def leave(self, validate: bool = True) -> bool:
        """Store what the screen edits in the draft; False (and a message) to stay."""
        return True

    def draft_ok(self) -> bool:
        """The inventory draft as a whole is valid; else its problem is shown."""
        problem = self.wizard.draft.error()
        if problem:
            self.notify(problem, title="inventory", severity="error", timeout=10)
            return False
        return True

    def fields_ok(self, fields: Iterable[FormField]) -> bool:
        """Every field shows its problem, the first bad one takes the focus; then the draft."""
        bad = [f for f in fields if f.show_problem()]
        if bad:
            bad[0].input.focus()
            return False
        return self.draft_ok()

    @property
    def locked(self) -> bool:
        """The migration has started: its inventory is no longer the screens' to change."""
        return self.wizard.started
