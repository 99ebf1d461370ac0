"""The wizard application."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Header, Static

from moodle_wizard import __version__
from moodle_wizard.resources import styles_dir


class WelcomeText(Static):
    """What the wizard does, on its first screen."""


class WizardApp(App[None]):
    TITLE = "moodle-wizard"
    SUB_TITLE = f"standalone Moodle database → replicated cluster  v{__version__}"
    CSS_PATH = str(styles_dir() / "wizard.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="welcome"):
            yield WelcomeText(
                "This wizard takes a Moodle site whose database runs on one server to a primary "
                "with replicas, a ProxySQL pair and a virtual IP, step by step and reversibly.\n\n"
                "The screens that drive the migration are being built. Today: "
                "`moodle-wizard lab up` builds a lab of real servers to try it on.",
                id="welcome-text",
            )
        yield Footer()
