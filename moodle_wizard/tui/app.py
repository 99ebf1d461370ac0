"""The wizard application: holds what the screens show (the inventory draft, the journal, the
dashboard's model), starts engine operations in the engine worker, and routes what they
report. It holds no migration logic: every decision is the engine's (see ops.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.signal import Signal

from moodle_wizard import __version__
from moodle_wizard.core.engine import MigrationError
from moodle_wizard.core.inventory import Inventory, InventoryError, load_inventory
from moodle_wizard.core.remote.ssh import ChangedHostKey, RemoteError
from moodle_wizard.core.secrets import SecretError
from moodle_wizard.core.session import audit_path
from moodle_wizard.core.state import (
    MigrationLock,
    MigrationState,
    StateError,
    StepName,
    StepStatus,
    load,
    new_state,
    state_dir,
    state_path,
)
from moodle_wizard.resources import styles_dir
from moodle_wizard.tui import heap, ops, preview
from moodle_wizard.tui.clock import Clock
from moodle_wizard.tui.draft import InventoryDraft, discovery_key
from moodle_wizard.tui.loopwatch import LoopWatch
from moodle_wizard.tui.run_model import RunModel
from moodle_wizard.tui.runner import (
    AskOperator,
    EngineEvents,
    EngineRunner,
    OpDone,
    OpMessage,
    WithdrawQuestion,
)

log = logging.getLogger(__name__)

STYLESHEETS = ("wizard.tcss", "screens.tcss", "modals.tcss", "widgets.tcss")
FLOW = ("hosts", "discovery", "backup", "replicas", "proxysql", "vip", "review")


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


def saved_migrations() -> list[tuple[Path, MigrationState | None, str | None]]:
    """Every journal in the state directory, newest first: (path, state or None, error)."""
    found: list[tuple[Path, MigrationState | None, str | None]] = []
    directory = state_dir()
    if not directory.is_dir():
        return found
    for path in directory.glob("*.json"):
        if path.name.startswith("."):
            continue
        try:
            found.append((path, load(path), None))
        except StateError as exc:
            found.append((path, None, str(exc)))
    found.sort(key=lambda t: t[1].updated_at.timestamp() if t[1] else 0.0, reverse=True)
    return found


def unfinished(state: MigrationState) -> bool:
    """Started changing hosts and not finished, or stopped mid-step."""
    statuses = [state.step(n).status for n in preview.steps_names()]
    if any(s in (StepStatus.RUNNING, StepStatus.FAILED, StepStatus.ROLLING_BACK)
           for s in statuses):
        return True
    beyond = statuses[1:]
    return any(s == StepStatus.DONE for s in beyond) and not all(
        s == StepStatus.DONE for s in beyond)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, MigrationError | RemoteError | InventoryError | SecretError |
                  StateError):
        return str(exc)
    return f"{type(exc).__name__}: {exc} (a bug in the wizard; the log has the details)"


class WizardApp(App[None]):
    TITLE = "moodle-wizard"
    SUB_TITLE = f"standalone Moodle database → replicated cluster  v{__version__}"
    CSS_PATH = [str(styles_dir() / name) for name in STYLESHEETS]  # noqa: RUF012 (Textual's)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012 (Textual's)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+g", "toggle_guide", "Guide"),
    ]

    def __init__(self, *, clock: Clock | None = None, guide: bool = False,
                 prefill: Path | None = None, known_hosts: Path | None = None,
                 watch_loop: bool = False, ask_resume: bool = True, blink: bool = True) -> None:
        super().__init__()
        self.clock = clock or Clock()
        self.demo = guide  # the guided demo: the guide panel can be toggled (ctrl+g)
        self.blink = blink  # the cursor; off for screenshots that must not depend on time
        self.guide = guide
        self.prefill = prefill
        self.settings = ops.Settings(known_hosts=known_hosts)
        self.runner = EngineRunner(self)
        self.changed: Signal[str] = Signal(self, "changed")
        self.loopwatch = LoopWatch() if watch_loop else None
        self.ask_resume = ask_resume
        self._asks: dict[Any, Screen[Any]] = {}
        self._after: dict[str, Callable[[], None]] = {}
        self._rollback_to: StepName | None = None  # for a forced retry of that rollback
        self._lock: MigrationLock | None = None
        self.reset_migration()

    # -- what the screens show ---------------------------------------------------------

    def reset_migration(self, draft: InventoryDraft | None = None) -> None:
        self.draft = draft or InventoryDraft()
        self.state: MigrationState | None = None
        self.state_file: Path | None = None
        self.connection: dict[str, ops.HostCheck] = {}
        self.moodle: ops.MoodleConfig | None = None
        self.discovery: ops.DiscoveryResult | None = None
        self.discovered_for: str | None = None
        self.review: ops.ReviewResult | None = None
        self.reviewed_for: str | None = None
        self.health: list[ops.HealthItem] | None = None
        self._discovering: str | None = None
        self._reviewing: str | None = None
        self.checks: dict[str, list[ops.Finding]] = {}
        self.errors: dict[str, str] = {}
        self.run_model = RunModel(self.clock)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def started(self) -> bool:
        """Some step after discovery has changed (or is changing) something."""
        if self.state is None:
            return False
        return any(self.state.step(n).status not in (StepStatus.PENDING, StepStatus.ROLLED_BACK)
                   for n in preview.steps_names()[1:])

    def inventory(self) -> Inventory:
        """The inventory the engine runs: the file, as the engine reads it."""
        if self.state is not None and self.started:
            return load_inventory(Path(self.state.inventory_path))
        return self.draft.save()

    # -- lifecycle ----------------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_class(self.guide, "-guide")
        if self.loopwatch is not None:
            self.loopwatch.start()
        if self.prefill is not None:
            self.load_draft(self.prefill)
        self.push_screen(self.screen_for("welcome"))

    def on_unmount(self) -> None:
        if self.loopwatch is not None:
            self.loopwatch.stop()
            log.info("largest UI event-loop stall: %.1f ms over %d samples",
                     self.loopwatch.max_stall * 1000, self.loopwatch.samples)
        if self._lock is not None:
            self._lock.release()

    def screen_for(self, name: str) -> Screen[Any]:
        if not self.is_screen_installed(name):
            self.install_screen(self._make(name), name)
        return self.get_screen(name)

    def _make(self, name: str) -> Screen[Any]:
        from moodle_wizard.tui.screens import SCREENS

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
        for name in (*FLOW, "dashboard"):
            if self.is_screen_installed(name) and self.get_screen(name) not in self.screen_stack:
                self.uninstall_screen(name)

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

    def take_lock(self, path: Path) -> bool:
        if self._lock is not None and self._lock.path == path.with_name(path.name + ".lock"):
            return True
        lock = MigrationLock(path)
        try:
            lock.acquire()
        except StateError as exc:  # held by another wizard, or a lock path not to be trusted
            self.show_error("This migration is busy", str(exc))
            return False
        if self._lock is not None:
            self._lock.release()
        self._lock = lock
        return True

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

    def resume_saved(self, path: Path) -> None:
        """Continue a saved migration where it was left: once it has started, run on from the
        journal (reattaching to remote jobs); before that, back to the wizard's screens."""
        if not self.open_saved(path):
            return
        if self.started:
            self.goto("dashboard")
            self.start_run()
        else:
            self.goto("discovery")

    # -- starting engine operations -------------------------------------------------------

    def busy_notice(self) -> bool:
        if self.runner.busy:
            self.notify(f"the engine is busy ({self.runner.current}); wait for it or press "
                        "ctrl+q", severity="warning")
            return True
        return False

    def start_connections(self) -> bool:
        if self.busy_notice():
            return False
        try:
            inventory = self.draft.validate()
        except InventoryError as exc:
            self.notify(str(exc), title="inventory", severity="error", timeout=10)
            return False
        self.connection = {}
        self.moodle = None
        self.errors.pop("connect", None)
        self.runner.addresses = {n: h.address for n, h in inventory.hosts.items()}
        state = new_state(inventory.migration.name, self.draft.path())
        settings = self.settings
        self.runner.start("connect", lambda io: ops.check_connections(io, settings, inventory,
                                                                      state))
        self.changed.publish("connect")
        return True

    def start_discovery(self) -> bool:
        if self.busy_notice():
            return False
        try:
            inventory = self.inventory()
            path = state_path(inventory.migration.name)
        except InventoryError as exc:
            self.errors["discover"] = str(exc)
            self.changed.publish("discover")
            return False
        if self.started:
            self.notify("the migration has started; discovery is not run again",
                        severity="warning")
            return False
        if not self.take_lock(path):  # before the saved journal is read
            return False
        if self.state_file != path and path.exists():
            problem = _saved_conflict(path)
            if problem:
                if self._lock is not None:  # not ours to hold: another migration's journal
                    self._lock.release()
                    self._lock = None
                self.errors["discover"] = problem
                self.changed.publish("discover")
                return False
        state = new_state(inventory.migration.name, inventory.path or self.draft.path())
        self.state_file = path
        self.discovery = None
        self.errors.pop("discover", None)
        self.runner.addresses = {n: h.address for n, h in inventory.hosts.items()}
        self._discovering = discovery_key(self.draft)
        settings = self.settings
        self.run_model = RunModel(self.clock)
        self.runner.start("discover", lambda io: ops.discover(io, settings, inventory, state,
                                                              path))
        self.changed.publish("discover")
        return True

    def start_review(self) -> bool:
        if self.busy_notice() or self.state is None:
            return False
        try:
            inventory = self.inventory()
        except InventoryError as exc:
            self.errors["review"] = str(exc)
            self.changed.publish("review")
            return False
        self.review = None
        self.errors.pop("review", None)
        self._reviewing = self.draft.to_toml()
        state, settings = self.state, self.settings
        self.runner.start("review", lambda io: ops.review(io, settings, inventory, state))
        self.changed.publish("review")
        return True

    def start_check(self, step: StepName) -> bool:
        """One step's read-only preflight (op "check-STEP"); raises InventoryError."""
        if self.busy_notice() or self.state is None:
            return False
        inventory = self.draft.validate()
        state, settings = self.state, self.settings
        self.checks.pop(step.value, None)
        self.runner.start(f"check-{step.value}",
                          lambda io: ops.check_step(io, settings, inventory, state, step))
        self.changed.publish(f"check-{step.value}")
        return True

    def start_run(self, until: StepName | None = None) -> bool:
        if self.busy_notice() or self.state is None or self.state_file is None:
            return False
        try:
            inventory = self.inventory()
        except InventoryError as exc:
            self.show_error("The inventory is not valid", str(exc))
            return False
        if not self.take_lock(self.state_file):
            return False
        self.runner.addresses = {n: h.address for n, h in inventory.hosts.items()}
        self.run_model.mode = "run"
        self.run_model.message = None
        self.health = None
        state, path, settings = self.state, self.state_file, self.settings
        self.runner.start("run", lambda io: ops.run(io, settings, inventory, state, path,
                                                    until))
        self.changed.publish("run")
        return True

    def start_rollback(self, to: StepName | None, force_config: bool = False) -> bool:
        if self.busy_notice() or self.state is None or self.state_file is None:
            return False
        try:
            inventory = load_inventory(Path(self.state.inventory_path))
        except InventoryError as exc:
            self.show_error("The inventory is not valid", str(exc))
            return False
        if not self.take_lock(self.state_file):
            return False
        self.run_model.mode = "rollback"
        self.run_model.message = None
        self.health = None
        state, path, settings = self.state, self.state_file, self.settings
        self._rollback_to = to
        self.runner.start("rollback", lambda io: ops.rollback(io, settings, inventory, state,
                                                              path, to, force_config))
        self.changed.publish("run")
        return True

    def start_health(self) -> bool:
        if self.busy_notice() or self.state is None:
            return False
        try:
            inventory = load_inventory(Path(self.state.inventory_path))
        except InventoryError as exc:
            self.show_error("The inventory is not valid", str(exc))
            return False
        state, settings, path = self.state, self.settings, self.state_file
        self.health = None
        self.runner.start("health", lambda io: ops.health(io, settings, inventory, state,
                                                          path))
        self.changed.publish("health")
        return True

    # -- what the engine thread reports -------------------------------------------------------

    def on_engine_events(self, _: EngineEvents) -> None:
        self.run_model.apply(self.runner.drain())
        self.changed.publish("events")

    def on_op_message(self, message: OpMessage) -> None:
        payload = message.payload
        if isinstance(payload, ops.HostCheck):
            self.connection[payload.name] = payload
            if payload.changed_key:
                self.show_changed_key(payload.name, payload.reason)
            self.changed.publish("connect")
        elif isinstance(payload, ops.MoodleConfig):
            self.moodle = payload
            self.changed.publish("connect")
        elif isinstance(payload, ops.StateSnapshot):
            self.state = payload.state
            self.run_model.load(payload.state)
            self.changed.publish("state")
            heap.freeze()  # a step boundary: see heap.py

    def on_op_done(self, done: OpDone) -> None:
        op = done.op
        self.runner.finished()
        if done.error is not None:
            if not isinstance(done.error, MigrationError | RemoteError | InventoryError |
                              SecretError | StateError):
                log.error("engine operation %s failed", op, exc_info=done.error)
            self.errors[op] = describe_error(done.error)
            changed = _changed_key(done.error)
            if changed is not None:
                self.show_changed_key(changed.host, str(changed))
        elif done.cancelled:
            self.errors[op] = "stopped"
        else:
            self.errors.pop(op, None)
        result = done.result
        if op == "discover":
            if isinstance(result, ops.DiscoveryResult):
                self.discovery = result
                self.state = result.state
                self.discovered_for = self._discovering
            self.run_model.stop_clocks()
        elif op == "review" and isinstance(result, ops.ReviewResult):
            self.review = result
            self.reviewed_for = self._reviewing
        elif op in ("run", "rollback"):
            self.run_model.stop_clocks()
            if isinstance(result, ops.RunResult):
                self.state = result.state
                self.run_model.load(result.state)
            if done.error is not None:
                self.run_model.message = self.errors[op]
                if op == "rollback":
                    self._offer_forced_config_rollback()
            elif done.cancelled:
                self.run_model.message = "stopped; the state is saved - resume continues it"
            elif op == "rollback" and isinstance(result, ops.RunResult):
                self.run_model.message = ("rolled back: " + ", ".join(result.undone)
                                          if result.undone else "nothing to undo")
            elif self.all_done():
                self.run_model.message = "every step of this engine is done"
                self.after("_published", self._check_health)
            else:
                self.run_model.message = "stopped where asked"
        elif op == "health" and isinstance(result, list):
            self.health = result
        elif op.startswith("check-") and isinstance(result, list):
            self.checks[op.removeprefix("check-")] = result
        self.changed.publish(op)
        self.refresh_bindings()
        callback = self._after.pop(op, None)
        if callback is not None and done.error is None and not done.cancelled:
            callback()
        follow = self._after.pop("_published", None)
        if follow is not None:
            follow()

    def _offer_forced_config_rollback(self) -> None:
        """The cutover's rollback refused: config.php changed after the cutover (its message,
        with the masked diff, is on the dashboard). Overwriting it is the operator's call."""
        from moodle_wizard.tui.screens.confirm import ConfirmModal

        apps = self.state.step(StepName.CUTOVER).facts.get("apps") if self.state else None
        changed = [a for a, f in apps.items() if isinstance(f, dict)
                   and f.get("changed_since_cutover")] if isinstance(apps, dict) else []
        if not changed:
            return
        to = self._rollback_to

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_rollback(to, force_config=True)

        self.push_screen(ConfirmModal(
            f"config.php on {', '.join(changed)} was changed after the cutover (the change is "
            "shown on the dashboard). Overwrite it with the original from before the cutover "
            "(as rollback --force-config)?", risky=True, yes="Overwrite", no="Keep it",
            title="config.php changed"), callback=answered)

    def _check_health(self) -> None:
        self.start_health()

    def all_done(self) -> bool:
        return self.state is not None and all(
            self.state.step(n).status == StepStatus.DONE for n in preview.steps_names())

    def after(self, op: str, callback: Callable[[], None]) -> None:
        """Run `callback` once the operation `op` succeeds."""
        self._after[op] = callback

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

    # -- screens everyone uses -----------------------------------------------------------

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry engine messages and paths: never read as console markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def show_error(self, title: str, text: str) -> None:
        from moodle_wizard.tui.screens.error import ErrorScreen

        self.push_screen(ErrorScreen(title, text))

    def show_changed_key(self, host: str, text: str) -> None:
        from moodle_wizard.tui.screens.changed_key import ChangedKeyScreen

        if not isinstance(self.screen, ChangedKeyScreen):
            self.push_screen(ChangedKeyScreen(host, text))

    def confirm_rollback(self, to: StepName | None) -> None:
        from moodle_wizard.tui.screens.rollback import RollbackModal

        if self.state is None:
            self.notify("no migration is open", severity="warning")
            return
        if self.busy_notice():
            return
        try:
            inventory = load_inventory(Path(self.state.inventory_path))
        except InventoryError as exc:
            self.show_error("The inventory is not valid", str(exc))
            return
        steps = preview.rollback_preview(inventory, self.state, to)
        if not steps:
            self.notify("nothing to roll back: no step from there on has run", timeout=6)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.goto("dashboard")
                self.start_rollback(to)

        self.push_screen(RollbackModal(to, steps), callback=answered)

    # -- actions and commands ---------------------------------------------------------------

    def action_help(self) -> None:
        from moodle_wizard.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_guide":
            return self.demo
        return True

    def action_toggle_guide(self) -> None:
        self.guide = not self.guide
        self.set_class(self.guide, "-guide")

    async def action_quit(self) -> None:
        if not self.runner.busy or self.runner.current not in ("run", "rollback"):
            self.exit()
            return
        from moodle_wizard.tui.screens.confirm import ConfirmModal

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(ConfirmModal(
            f"The engine is busy ({self.runner.current}). Quit anyway? The state is saved, "
            "remote jobs keep running, and the next `moodle-wizard` offers to resume and "
            "reattaches.", risky=False, yes="Quit", no="Stay"), callback=answered)

    def action_resume(self) -> None:
        if self.state is not None and self.state_file is not None:
            self.goto("dashboard")
            self.start_run()
            return
        saved = [p for p, s, _ in saved_migrations() if s is not None]
        if not saved:
            self.notify("no saved migration to resume", severity="warning")
            return
        self.resume_saved(saved[0])

    def action_rollback_step(self) -> None:
        from moodle_wizard.tui.screens.step_picker import StepPicker

        if self.state is None:
            saved = [p for p, s, _ in saved_migrations() if s is not None]
            if not saved or not self.open_saved(saved[0]):
                self.notify("no migration to roll back", severity="warning")
                return
        assert self.state is not None
        choices = [(n, preview.title(n)) for n in preview.steps_names()
                   if self.state.step(n).status not in (StepStatus.PENDING,
                                                        StepStatus.ROLLED_BACK)]
        if not choices:
            self.notify("nothing to roll back: no step has run", severity="warning")
            return

        def picked(step: StepName | None) -> None:
            if step is not None:
                self.confirm_rollback(step)

        self.push_screen(StepPicker("Roll back which step (and every step after it)?",
                                    choices), callback=picked)

    def action_export_runbook(self) -> None:
        from moodle_wizard.tui.screens.export import ExportModal

        if self.review is None or self.reviewed_for != self.draft.to_toml():
            if self.state is None:
                self.notify("discover first: the runbook depends on what is on the hosts",
                            severity="warning")
                return
            if self.start_review():
                self.notify("making the runbook (a read-only discovery)…")
                self.after("review", self.action_export_runbook)
            return
        default = state_dir() / f"{self.draft.name or 'migration'}-runbook.md"
        text = self.review.runbook

        def chosen(path: str | None) -> None:
            if path:
                self.write_runbook(Path(path).expanduser(), text)

        self.push_screen(ExportModal(str(default)), callback=chosen)

    def write_runbook(self, path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc}", severity="error", timeout=10)
            return
        self.notify(f"runbook written to {path}", title="export", timeout=8)

    def action_open_log(self) -> None:
        from moodle_wizard.tui.screens.log_view import LogScreen

        audit = audit_path(self.state_file) if self.state_file else None
        self.push_screen(LogScreen(audit, list(self.run_model.log)))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Resume", "Continue the saved migration; reattaches to remote jobs "
                            "still running", self.action_resume)
        yield SystemCommand("Rollback step…", "Undo a done step and every step after it, "
                            "behind a confirmation", self.action_rollback_step)
        yield SystemCommand("Export runbook", "Write every command and SQL statement of the "
                            "plan (secrets masked) to a file", self.action_export_runbook)
        yield SystemCommand("Open log", "The audit log of every command and SQL statement run "
                            "(secrets masked) and the engine's events", self.action_open_log)


def _saved_conflict(path: Path) -> str | None:
    """Why a new migration may not take this name: a journal that has done more than
    discovery is never overwritten."""
    try:
        saved = load(path)
    except StateError as exc:
        return str(exc)
    if any(saved.step(n).status not in (StepStatus.PENDING, StepStatus.ROLLED_BACK)
           for n in preview.steps_names()[1:]):
        return (f"a migration named {saved.migration_id!r} is already saved in {path} and has "
                "started; resume or roll it back from the welcome screen, or give this one "
                "another name")
    return None


def _changed_key(exc: BaseException) -> ChangedHostKey | None:
    """The refused host key behind an engine error (the engine re-raises remote errors as
    MigrationError; the original is its context)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, ChangedHostKey):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
