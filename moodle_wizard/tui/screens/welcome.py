"""Screen 1: start a new migration, resume or roll back the saved one, or the guided demo."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from moodle_wizard.core import journal
from moodle_wizard.core.state import MigrationState
from moodle_wizard.tui.clock import ago
from moodle_wizard.tui.screens.base import WizardScreen
from moodle_wizard.tui.widgets.plain_text import PlainText
from moodle_wizard.tui.widgets.saved_migration import SavedMigration


class WelcomeText(PlainText):
    """What the wizard does, on its first screen."""


INTRO = ("Takes a Moodle site whose database runs on one server to a primary with replicas, "
         "a ProxySQL pair and a virtual IP - step by step, every step journaled and "
         "reversible. Nothing changes on any server until you confirm the plan.")


class WelcomeScreen(WizardScreen):
    TOPIC = "welcome"
    NUMBER = 1
    LABEL = "Welcome"
    HELP = ("Start a **new migration** (the next screens ask for your hosts), **resume** the "
            "one saved on this machine - after a dropped SSH session the wizard reattaches to "
            "remote jobs still running - **roll it back**, or start the **guided demo** "
            "against the local lab (`sudo moodle-wizard demo` builds it).\n\n"
            "Saved migrations live in the state directory (`moodle-wizard status` shows them "
            "too).")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "choose('new')", "New"),
        Binding("r", "choose('resume')", "Resume"),
        Binding("b", "choose('rollback')", "Roll back"),
        Binding("d", "choose('demo')", "Demo"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.saved: tuple[Path, MigrationState] | None = None
        self.others = 0
        self.broken: list[str] = []
        self._asked = False

    def _scan(self) -> None:
        found = journal.saved_migrations()
        good = [(p, s) for p, s, _ in found if s is not None]
        self.broken = [e for _, s, e in found if s is None and e]
        self.saved = good[0] if good else None
        self.others = max(0, len(good) - 1)

    def body(self) -> ComposeResult:
        self._scan()
        yield WelcomeText(INTRO, id="welcome-text")
        yield OptionList(*self._options(), id="welcome-menu")
        if self.saved is not None:
            path, state = self.saved
            yield SavedMigration(path, state, ago(state.updated_at, self.wizard.clock.now()),
                                 id="saved")
        notes = []
        if self.others:
            notes.append(f"{self.others} more saved migration(s): `moodle-wizard status "
                         "--migration NAME` lists them.")
        notes += [f"unreadable: {e}" for e in self.broken[:1]]
        yield PlainText("\n".join(notes), id="welcome-notes")

    def _options(self) -> list[Option]:
        options = [Option("Start a new migration", id="new")]
        if self.saved is not None:
            name = self.saved[1].migration_id
            options.append(Option(f"Operate {name!r}: health, switchover, failover" if
                                  journal.all_done(self.saved[1]) else
                                  f"Resume {name!r} where it was left", id="resume"))
            options.append(Option(f"Roll back {name!r}…", id="rollback"))
        options.append(Option("Guided demo on the local lab", id="demo"))
        options.append(Option("Quit", id="quit"))
        return options

    def on_mount(self) -> None:
        super().on_mount()
        menu = self.query_one(OptionList)
        if self.wizard.guide:
            menu.highlighted = next(i for i, o in enumerate(menu.options) if o.id == "demo")
        elif self.saved is not None:
            menu.highlighted = 1
        menu.focus()
        self.call_after_refresh(self._offer_resume)

    def _offer_resume(self) -> None:
        from moodle_wizard.tui.screens.resume import ResumeModal

        if self._asked or not self.wizard.ask_resume or self.saved is None:
            return
        self._asked = True
        state = self.saved[1]
        if journal.all_done(state):
            # A completed migration opens on the Operate screen (the primary, health, ...).
            self.action_choose("resume")
            return
        if not journal.unfinished(state):
            return

        def answered(answer: str | None) -> None:
            if answer is not None:
                self.action_choose(answer)

        self.app.push_screen(ResumeModal(state, ago(state.updated_at, self.wizard.clock.now())),
                             callback=answered)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose" and parameters and parameters[0] in ("resume", "rollback"):
            return self.saved is not None
        return True

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose(str(event.option.id))

    def action_choose(self, choice: str) -> None:
        app = self.wizard
        if choice == "new":
            app.new_migration()
        elif choice == "demo":
            app.start_demo()
        elif choice == "quit":
            app.exit()
        elif self.saved is not None and choice == "resume":
            app.resume_saved(self.saved[0])
        elif self.saved is not None and choice == "rollback" and app.open_saved(self.saved[0]):
            app.goto("dashboard")
            app.confirm_rollback(None)
