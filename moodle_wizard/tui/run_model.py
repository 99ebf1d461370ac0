"""What the dashboard shows, kept by the app: one row per step, built from the journal and
updated from the engine's events. Plain Python (no widgets), so it is tested on its own."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from moodle_wizard.core import events as ev
from moodle_wizard.core.progress import RateWindow, progress_parts, progress_text
from moodle_wizard.core.state import MigrationState, StepName, StepStatus
from moodle_wizard.tui.clock import Clock

LOG_LINES = 5000
RATE_WINDOW_S = 10.0


@dataclass
class StreamProgress:
    """The last Progress of a stream. The rate is the engine's (core/progress.py, where the
    bytes are counted); for a Progress without one, the app's own over RATE_WINDOW_S."""

    label: str
    done: int
    total: int | None
    limit: int | None = None
    engine_rate: float | None = None
    window: RateWindow = field(default_factory=lambda: RateWindow(RATE_WINDOW_S))

    def add(self, now: float, done: int, total: int | None, rate: float | None = None,
            limit: int | None = None) -> None:
        self.done, self.total = done, total
        self.engine_rate, self.limit = rate, limit
        self.window.add(now, done)

    @property
    def rate(self) -> float | None:
        """Bytes per second over the last few seconds."""
        return self.engine_rate if self.engine_rate is not None else self.window.rate

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None

    def event(self) -> ev.Progress:
        return ev.Progress("", self.label, self.done, self.total, self.rate, self.limit)

    def describe(self) -> str:
        return progress_text(self.event())

    def parts(self) -> tuple[str, str, str]:
        """The amount, the pace (rate and limit) and the time left (core/progress.py)."""
        return progress_parts(self.event())


@dataclass
class StepRow:
    name: str
    title: str
    status: str = StepStatus.PENDING.value
    started: float | None = None  # monotonic, while it runs in this wizard
    elapsed: float | None = None
    last: str = ""
    error: str | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    progress: StreamProgress | None = None
    logged: int = 0  # lines ever logged (the deque keeps the last LOG_LINES)

    def elapsed_now(self, now: float) -> float | None:
        if self.started is not None:
            return now - self.started
        return self.elapsed


class RunModel:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._rows: dict[str, StepRow] | None = None
        self.warnings: list[str] = []
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.mode = "run"  # or "rollback": how StepStarted/StepDone read
        self.active: str | None = None
        self.last_active: str | None = None  # the step that started last (stays after the end)
        self.message: str | None = None  # the last operation's outcome, one line

    @property
    def rows(self) -> dict[str, StepRow]:
        """One row per step, in the order the steps run (the classic order until a journal
        says otherwise). Made when first asked: the step titles come from the registry, which
        loads the engine (not needed for the first screen)."""
        if self._rows is None:
            from moodle_wizard.core.steps.registry import STEP_CLASSES, implemented

            self._rows = {n.value: StepRow(n.value, STEP_CLASSES[n].title)
                          for n in implemented()}
        return self._rows

    # -- from the journal --

    def load(self, state: MigrationState) -> None:
        from moodle_wizard.core.steps.registry import implemented

        # The rows in the order this migration runs its steps (classic or proxy-first).
        self._rows = {n.value: self.rows[n.value] for n in implemented(state)}
        for name in implemented(state):
            record = state.step(name)
            row = self.rows[name.value]
            running_here = row.started is not None and name.value == self.active
            row.status = record.status.value if not running_here else row.status
            if (not running_here and record.status == StepStatus.DONE and record.started_at
                    and record.finished_at):
                row.elapsed = max(0.0, (record.finished_at - record.started_at).total_seconds())
            elif record.status == StepStatus.PENDING:
                row.elapsed = None
            row.error = record.last_error
            if record.status == StepStatus.FAILED and record.last_error:
                row.last = _interrupted(record.last_error)
            elif not row.last:
                row.last = _describe_saved(name, state)

    # -- from the engine --

    def apply(self, events: list[ev.Event]) -> None:
        for event in events:
            self._apply(event)

    def _row(self, step: str) -> StepRow:
        if step not in self.rows:
            self.rows[step] = StepRow(step, step)
        return self.rows[step]

    def _apply(self, event: ev.Event) -> None:
        now = self.clock.monotonic()
        match event:
            case ev.StepStarted(step, title):
                row = self._row(step)
                row.status = (StepStatus.ROLLING_BACK if self.mode == "rollback"
                              else StepStatus.RUNNING).value
                row.started, row.error, row.progress = now, None, None
                row.last = title
                self.active = self.last_active = step
                self._log(row, f"==> [{step}] {title}")
            case ev.ActionStarted(step, _, title):
                row = self._row(step)
                row.last = title
                self._log(row, f"  - {title}")
            case ev.OutputLine(step, host, line):
                self._log(self._row(step), f"    {host}: {line}")
            case ev.Progress(step, label, done, total, rate, limit):
                row = self._row(step)
                if row.progress is None or row.progress.label != label:
                    row.progress = StreamProgress(label, done, total)
                row.progress.add(now, done, total, rate, limit)
                row.last = row.progress.describe()
            case ev.StepDone(step, seconds):
                row = self._row(step)
                row.status = (StepStatus.ROLLED_BACK if self.mode == "rollback"
                              else StepStatus.DONE).value
                row.started, row.elapsed = None, seconds
                row.last = "rolled back" if self.mode == "rollback" else "done"
                self._log(row, f"  {row.last}: {step} ({seconds:.1f} s)")
            case ev.StepFailed(step, error):
                row = self._row(step)
                row.status = StepStatus.FAILED.value
                if row.started is not None:
                    row.elapsed = now - row.started
                row.started, row.error = None, error
                row.last = _interrupted(error)
                self._log(row, f"  FAILED: {error}")
            case ev.Warning_(step, message):
                self.warnings.append(f"{step}: {message}")
                self._log(self._row(step), f"  warning: {message}")

    def _log(self, row: StepRow, line: str) -> None:
        row.log.append(line)
        row.logged += 1
        self.log.append(line)

    def stop_clocks(self) -> None:
        """The operation ended (also by cancellation): nothing runs any more."""
        now = self.clock.monotonic()
        for row in self.rows.values():
            if row.started is not None:
                row.elapsed = now - row.started
                row.started = None
        self.active = None


def _interrupted(error: str) -> str:
    if error.startswith("CancelledError"):
        return "interrupted (the wizard stopped); resume reattaches"
    return error.splitlines()[0]


def _describe_saved(name: StepName, state: MigrationState) -> str:
    record = state.step(name)
    if record.status == StepStatus.DONE:
        return "done"
    if record.status == StepStatus.RUNNING:
        return f"running when the wizard stopped ({len(record.actions)} action(s) journaled)"
    if record.status == StepStatus.ROLLED_BACK:
        return "rolled back"
    return ""
