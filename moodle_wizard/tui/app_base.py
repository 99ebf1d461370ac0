"""What the wizard application holds for the screens (the inventory draft, the journal, what
the last operations found, the dashboard's model), how it moves between screens, and how it
opens saved migrations. The engine operations are dispatch.py's; the palette's commands are
palette.py's; app.py puts them together."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.screen import Screen
from textual.signal import Signal

from moodle_wizard.core import journal
from moodle_wizard.core.inventory import Inventory, InventoryError, load_inventory
from moodle_wizard.core.migrationlock import LockHeldError, MigrationLock
from moodle_wizard.core.state import (
    MigrationState,
    StateError,
    StepName,
    StepStatus,
    load,
)
from moodle_wizard.tui import heap, results
from moodle_wizard.tui.clock import Clock
from moodle_wizard.tui.draft import InventoryDraft, discovery_key
from moodle_wizard.tui.loopwatch import LoopWatch
from moodle_wizard.tui.operations import Operation
from moodle_wizard.tui.run_model import RunModel
from moodle_wizard.tui.runner import AskOperator, EngineRunner, WithdrawQuestion
from moodle_wizard.tui.screens import SCREENS
from moodle_wizard.tui.screens.changed_key import ChangedKeyScreen
from moodle_wizard.tui.screens.error import ErrorScreen

if TYPE_CHECKING:
    from moodle_wizard.core.health import HealthItem

log = logging.getLogger(__name__)

FLOW = ("hosts", "discovery", "backup", "replicas", "proxysql", "vip", "review")


class WizardBase(App[None]):
    def __init__(self, *, clock: Clock | None = None, guide: bool = False,
                 prefill: Path | None = None, known_hosts: Path | None = None,
                 watch_loop: bool = False, ask_resume: bool = True, blink: bool = True) -> None:
        super().__init__()
        self.clock = clock or Clock()
        self.demo = guide  # the guided demo: the guide panel can be toggled (ctrl+g)
        self.blink = blink  # the cursor; off for screenshots that must not depend on time
        self.guide = guide
        self.prefill = prefill
        self.settings = results.Settings(known_hosts=known_hosts)
        self.runner = EngineRunner(self)
        self.changed: Signal[str] = Signal(self, "changed")
        self.loopwatch = LoopWatch() if watch_loop else None
        # The thread that loads the engine's modules once the first frame is out (warm.py).
        self.engine_loader: threading.Thread | None = None
        self.ask_resume = ask_resume
        self._asks: dict[Any, Screen[Any]] = {}
        # Run once an operation of that kind succeeds (see EngineOps.after).
        self._after: dict[type[Operation[Any]], Callable[[], None]] = {}
        # Run after the current outcome is handled and published (a follow-up operation).
        self._then: Callable[[], None] | None = None
        self._lock: MigrationLock | None = None
        self.reset_migration()

    # -- what the screens show ---------------------------------------------------------

    def reset_migration(self, draft: InventoryDraft | None = None) -> None:
        self.draft = draft or InventoryDraft()
        self.state: MigrationState | None = None
        self.state_file: Path | None = None
        self.connection: dict[str, results.HostCheck] = {}
        self.moodle: results.MoodleConfig | None = None
        self.discovery: results.DiscoveryResult | None = None
        self.discovered_for: str | None = None
        self.review: results.ReviewResult | None = None
        self.reviewed_for: str | None = None
        self.health: list[HealthItem] | None = None
        self._discovering: str | None = None
        self._reviewing: str | None = None
        self.checks: dict[str, list[journal.Finding]] = {}
        self.errors: dict[str, str] = {}
        self.run_model = RunModel(self.clock)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def started(self) -> bool:
        """Some step after discovery has changed (or is changing) something."""
        return self.state is not None and journal.started(self.state)

    def all_done(self) -> bool:
        return self.state is not None and journal.all_done(self.state)

    def saved_inventory(self) -> Inventory | None:
        """The open migration's inventory file as the engine reads it, or None when there is
        no migration open or the file is not valid (then said in an error box)."""
        if self.state is None:
            return None
        try:
            return load_inventory(Path(self.state.inventory_path))
        except InventoryError as exc:
            self.show_error("The inventory is not valid", str(exc))
            return None

    def inventory(self) -> Inventory:
        """The inventory the engine runs: the file, as the engine reads it."""
        if self.state is not None and self.started:
            return load_inventory(Path(self.state.inventory_path))
        return self.draft.save()

    # -- screens ------------------------------------------------------------------------

    def screen_for(self, name: str) -> Screen[Any]:
        if not self.is_screen_installed(name):
            self.install_screen(self._make(name), name)
        return self.get_screen(name)

    def _make(self, name: str) -> Screen[Any]:
        return SCREENS[name]()

    def goto(self, name: str) -> None:
        if not name:
            return
        screen = self.screen_for(name)
        if self.screen is screen:
            return
        if len(self.screen_stack) <= 1:
            self.push_screen(screen)
        else:
            self.switch_screen(screen)
        self.call_after_refresh(heap.settle)

    def restart_flow(self) -> None:
        """Forget the flow screens (a new migration starts from empty forms)."""
        for name in (*FLOW, "dashboard", "operate"):
            if self.is_screen_installed(name) and self.get_screen(name) not in self.screen_stack:
                self.uninstall_screen(name)

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry engine messages and paths: never read as console markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def show_error(self, title: str, text: str) -> None:
        self.push_screen(ErrorScreen(title, text))

    def show_changed_key(self, host: str, text: str) -> None:
        if not isinstance(self.screen, ChangedKeyScreen):
            self.push_screen(ChangedKeyScreen(host, text))

    # -- opening migrations -----------------------------------------------------------------

    def load_draft(self, path: Path) -> bool:
        try:
            self.draft = InventoryDraft.from_file(path)
        except InventoryError as exc:
            self.notify(str(exc), title="inventory", severity="error", timeout=15)
            return False
        return True

    def new_migration(self, draft: InventoryDraft | None = None) -> None:
        self.reset_migration(draft)
        self.restart_flow()
        self.goto("hosts")

    def take_lock(self, path: Path) -> bool:
        if self._lock is not None and self._lock.path == path.with_name(path.name + ".lock"):
            return True
        lock = MigrationLock(path)
        try:
            lock.acquire()
        except StateError as exc:  # held by another wizard, or a lock path not to be trusted
            self.show_error("This migration is busy" if isinstance(exc, LockHeldError)
                            else "Cannot lock this migration", str(exc))
            return False
        if self._lock is not None:
            self._lock.release()
        self._lock = lock
        return True

    def drop_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def open_saved(self, path: Path) -> bool:
        """Open a journaled migration: its lock first, then its state and its inventory."""
        if not self.take_lock(path):
            return False
        lock, self._lock = self._lock, None  # kept across reset_migration, which releases
        try:
            state = load(path)
            draft = InventoryDraft.from_file(Path(state.inventory_path))
        except (StateError, InventoryError) as exc:
            if lock is not None:
                lock.release()
            self.show_error("Cannot open the saved migration", str(exc))
            return False
        self.reset_migration(draft)
        self.restart_flow()
        self._lock = lock
        self.state, self.state_file = state, path
        self.discovered_for = discovery_key(self.draft) if state.step(
            StepName.DISCOVER).status == StepStatus.DONE else None
        self.run_model.load(state)
        return True

    # -- questions from the engine thread ------------------------------------------------------

    def on_ask_operator(self, message: AskOperator) -> None:
        answer = message.answer
        if answer.done():
            return
        screen = message.make_screen()
        self._asks[answer] = screen

        def resolve(result: Any) -> None:
            self._asks.pop(answer, None)
            if not answer.done():
                answer.set_result(result)

        self.push_screen(screen, callback=resolve)

    def on_withdraw_question(self, message: WithdrawQuestion) -> None:
        screen = self._asks.pop(message.answer, None)
        if screen is not None and self.screen is screen:
            screen.dismiss(None)

    def on_unmount(self) -> None:
        if self.loopwatch is not None:
            self.loopwatch.stop()
            log.info("largest UI event-loop stall: %.1f ms over %d samples",
                     self.loopwatch.max_stall * 1000, self.loopwatch.samples)
        if self._lock is not None:
            self._lock.release()
