"""Screen 9: one row per step (state, elapsed, last message), the live log of the step in
focus, the seed stream's progress, the health of the result, and rollback of any done step
with everything after it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Static

from moodle_wizard.core.state import StepName, StepStatus
from moodle_wizard.tui.operations import Health, Rollback, Run
from moodle_wizard.tui.run_model import StepRow
from moodle_wizard.tui.screens.base import WizardScreen
from moodle_wizard.tui.widgets.health_panel import HealthPanel
from moodle_wizard.tui.widgets.plain_text import PlainText
from moodle_wizard.tui.widgets.step_log import StepLog
from moodle_wizard.tui.widgets.step_table import StepTable
from moodle_wizard.tui.widgets.stream_progress import StreamProgressBar

REDRAW_S = 0.1


class DashboardScreen(WizardScreen):
    TOPIC = "dashboard"
    NUMBER = 9
    LABEL = "Dashboard"
    HELP = ("One row per step: its state, how long it took (or has been running) and its "
            "last message. Up and down choose the step in focus; the log below is that "
            "step's, live.\n\n**r** runs the migration from where the journal stands (after a "
            "dropped session this resumes and reattaches to remote jobs). **x** stops the "
            "run: the state is saved and remote jobs keep running. **b** rolls back the "
            "step in focus *and every step after it*, newest first, after a confirmation "
            "that lists exactly what will be undone. **h** checks the result from outside: "
            "replica lag, ProxySQL, the VIP, Moodle through it. **l** opens the audit log.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "run", "Run"),
        Binding("b", "rollback", "Rollback"),
        Binding("h", "health", "Health"),
        Binding("l", "app.open_log", "Log"),
        Binding("x", "stop", "Stop"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._ticker: Timer | None = None
        self._pending: Timer | None = None
        self._follow = True
        self._moving = False

    def body(self) -> ComposeResult:
        yield StepTable(id="steps")
        yield PlainText("", id="dash-message")
        yield StreamProgressBar(id="stream")
        yield HealthPanel(id="health")
        yield StepLog(id="step-log")

    def on_mount(self) -> None:
        super().on_mount()
        self.wizard.changed.subscribe(self, self._changed)
        self._ticker = self.set_interval(1.0, self._tick, pause=True)
        self.query_one(StepTable).focus()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def _changed(self, topic: str) -> None:
        if topic == "events":
            # Engine events redraw at most ten times a second, however fast they come: a
            # stream of output lines costs the UI a few short redraws, not one per batch.
            if self._pending is None:
                self._pending = self.set_timer(REDRAW_S, self._redraw)
        elif topic in ("state", "run", "rollback", "health"):
            self.refresh_view()

    def _redraw(self) -> None:
        self._pending = None
        self.refresh_view()

    def _tick(self) -> None:
        self.query_one(StepTable).show(self.wizard.run_model)

    # -- drawing --

    def refresh_view(self) -> None:
        app = self.wizard
        model = app.run_model
        table = self.query_one(StepTable)
        table.show(model)
        running = app.runner.running(Run, Rollback)
        if self._ticker is not None:
            if running:
                self._ticker.resume()
            else:
                self._ticker.pause()
        follow = model.active or model.last_active
        if follow and self._follow:
            self._moving = True
            table.select(follow)
            self._moving = False
        focus = table.selected
        row = model.rows.get(focus) if focus else None
        log = self.query_one(StepLog)
        if row is not None:
            log.follow(row.name, row.log, row.logged)
        self.query_one(StreamProgressBar).show(row.progress if row else None)
        self.query_one("#dash-message", Static).update(self._message(running, row))
        health = self.query_one(HealthPanel)
        checking = app.runner.running(Health)
        health.display = checking or app.health is not None
        health.show(app.health, checking=checking)
        self.refresh_bindings()

    def _message(self, running: bool, focus: StepRow | None) -> Text:
        app = self.wizard
        model = app.run_model
        text = Text()
        running = running or model.active is not None
        if focus is not None and focus.progress is None and (focus.error or
                                                             len(focus.last) > 20):
            failed = bool(focus.error) and not str(focus.error).startswith("CancelledError")
            text.append(f"{focus.title}: ", style="bold")
            text.append(f"{focus.error if failed else focus.last}\n",
                        style="red" if failed else "")
        if running:
            verb = "rolling back" if app.runner.running(Rollback) else "running"
            text.append(f"▶ {verb}", style="bold cyan")
            if model.active:
                text.append(f": {model.rows[model.active].title}" if model.active in
                            model.rows else f": {model.active}")
            text.append("  (x stops; the state is saved)", style="dim")
        elif model.message:
            bad = app.errors.get("run") or app.errors.get("rollback")
            text.append(("✗ " if bad else "✓ ") + model.message,
                        style="red" if bad else "green")
        elif app.state is None:
            text.append("No migration is open.", style="dim")
        elif not app.started:
            text.append("Nothing has run yet: r starts the migration.", style="dim")
        else:
            text.append("Stopped. r resumes from the journal.", style="dim")
        if model.warnings:
            text.append(f"\n{len(model.warnings)} warning(s): {model.warnings[-1]}",
                        style="yellow")
        return text

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        model = self.wizard.run_model
        target = model.active or model.last_active
        if not self._moving and target is not None and event.row_key.value != target:
            self._follow = False  # the operator looks at another step: stop following
        self.refresh_view()

    # -- keys --

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        app = self.wizard
        busy = app.runner.busy
        if action == "run":
            return None if busy or app.state is None else True
        if action == "rollback":
            return None if busy or not self._selected_done() else True
        if action == "stop":
            return True if app.runner.running(Run, Rollback) else None
        if action == "health":
            return None if busy or not app.started else True
        return True

    def _selected_done(self) -> bool:
        state = self.wizard.state
        step = self.query_one(StepTable).selected
        if state is None or step is None:
            return False
        return state.step(step).status not in (StepStatus.PENDING, StepStatus.ROLLED_BACK)

    def action_run(self) -> None:
        self._follow = True
        self.wizard.submit(Run())
        self.refresh_view()

    def action_stop(self) -> None:
        self.wizard.runner.cancel()
        self.notify("stopping: the wizard journals where it is; remote jobs keep running")

    def action_rollback(self) -> None:
        step = self.query_one(StepTable).selected
        if step is None:
            return
        if not self._selected_done():
            self.notify(f"{step} has not run: nothing to roll back", severity="warning")
            return
        self._follow = True
        self.wizard.confirm_rollback(StepName(step))

    def action_health(self) -> None:
        self.wizard.submit(Health())
        self.refresh_view()

