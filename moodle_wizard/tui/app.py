"""The wizard application: what the screens show and how it opens migrations (app_base.py),
the engine operations it starts and what they report (dispatch.py, operations.py), the
palette's commands (palette.py). It holds no migration logic: every decision is the engine's,
and every question about the journal is core's (core/journal.py, core/preview.py)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType

from moodle_wizard import __version__
from moodle_wizard.core.inventory import InventoryError
from moodle_wizard.resources import styles_dir
from moodle_wizard.tui.draft import InventoryDraft
from moodle_wizard.tui.palette import Palette
from moodle_wizard.tui.screens.base import WizardScreen

STYLESHEETS = ("wizard.tcss", "screens.tcss", "modals.tcss", "widgets.tcss")


def lab_inventory() -> Path:
    """The lab's inventory (the demo pre-fills it). The lab writes it on demand: when it is
    up and the file is not there yet, ask the lab for it (root only, like the lab)."""
    import os

    from moodle_wizard.lab import lab
    from moodle_wizard.lab.system import LabError

    path = lab.LABDIR / "inventory.toml"
    if not path.is_file() and os.geteuid() == 0 and lab.LabState.load(lab.LABDIR) is not None:
        try:
            return lab.inventory_path()
        except (LabError, OSError):
            pass
    return path


class WizardApp(Palette):
    TITLE = "moodle-wizard"
    SUB_TITLE = f"standalone Moodle database → replicated cluster  v{__version__}"
    CSS_PATH = [str(styles_dir() / name) for name in STYLESHEETS]  # noqa: RUF012 (Textual's)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012 (Textual's)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+g", "toggle_guide", "Guide"),
        # Back to the Operate screen from the dashboard, once every step is done.
        Binding("o", "operate", "Operate"),
    ]

    def on_mount(self) -> None:
        self.set_class(self.guide, "-guide")
        if self.loopwatch is not None:
            self.loopwatch.start()
        if self.prefill is not None:
            self.load_draft(self.prefill)
        self.push_screen(self.screen_for("welcome"))

    def on_ready(self) -> None:
        # The first frame is out: load the engine behind it (warm.py).
        from moodle_wizard.tui import warm

        self.engine_loader = warm.start()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "operate":
            on_dashboard = (isinstance(self.screen, WizardScreen)
                            and self.screen.TOPIC == "dashboard")
            return on_dashboard and self.all_done()  # False: not shown, no key
        return super().check_action(action, parameters)

    def action_operate(self) -> None:
        self.goto("operate")

    def start_demo(self) -> None:
        path = lab_inventory()
        self.guide = self.demo = True
        self.set_class(True, "-guide")
        self.refresh_bindings()
        if not path.is_file():
            self.notify(f"The lab is not up here ({path} is missing). Build it and start the "
                        "demo with `sudo moodle-wizard demo` (or `make demo`).",
                        title="demo", severity="warning", timeout=15)
            self.new_migration()
            return
        try:
            draft = InventoryDraft.from_file(path)
        except InventoryError as exc:
            self.notify(str(exc), title="lab inventory", severity="error", timeout=15)
            return
        self.new_migration(draft)
