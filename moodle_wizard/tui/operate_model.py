"""What the Operate screen shows of the last cluster operation, kept by the app: its title,
its progress lines (from the engine's events), then its report or its one-line error. Plain
Python (no widgets), so it is tested on its own."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from moodle_wizard.core import events as ev

LOG_LINES = 2000


@dataclass
class OperateLog:
    title: str = ""
    running: bool = False
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    logged: int = 0  # lines ever logged in this run (the deque keeps the last LOG_LINES)
    run: int = 0  # which run the lines are of: a new one clears the log on screen
    now: str = ""  # what runs now (the last action's title)
    outcome: str | None = None  # the last run's headline, or its error
    failed: bool = False

    def start(self, title: str) -> None:
        self.title, self.running, self.now = title, True, ""
        self.lines.clear()
        self.logged = 0
        self.run += 1
        self.outcome, self.failed = None, False

    def apply(self, events: list[ev.Event]) -> None:
        for event in events:
            match event:
                case ev.StepStarted(_, title):
                    self.now = title
                    self._log(f"==> {title}")
                case ev.ActionStarted(_, _, title):
                    self.now = title
                    self._log(f"  - {title}")
                case ev.OutputLine(_, host, line):
                    self._log(f"    {host}: {line}" if host else f"    {line}")
                case ev.Progress(_, label, done, total):
                    self.now = f"{label}: {done}" + (f" of {total}" if total else "")
                case ev.StepDone(step, seconds):
                    self._log(f"  done: {step} ({seconds:.1f} s)")
                case ev.StepFailed(_, error):
                    self._log(f"  FAILED: {error.splitlines()[0] if error else error}")
                case ev.Warning_(_, message):
                    self._log(f"  warning: {message}")

    def succeeded(self, headline: str, report: list[str], ok: bool = True) -> None:
        """It ran to its end; `ok` False: it missed its targets (a drill's failed writes)."""
        self.running, self.now = False, ""
        self.outcome, self.failed = headline, not ok
        self._log(f"{'✓' if ok else '✗'} {headline}")
        for line in report:
            self._log(f"  {line}")

    def stopped(self, error: str) -> None:
        """The operation refused, failed or was stopped: its one line."""
        self.running, self.now = False, ""
        self.outcome, self.failed = error, True
        self._log(f"✗ {error}")

    def _log(self, line: str) -> None:
        self.lines.append(line)
        self.logged += 1
