"""What the engine tells whoever watches it (the headless printer, the TUI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StepStarted:
    step: str
    title: str


@dataclass(frozen=True)
class ActionStarted:
    step: str
    action: str
    title: str


@dataclass(frozen=True)
class OutputLine:
    step: str
    host: str
    line: str


@dataclass(frozen=True)
class Progress:
    step: str
    label: str
    done: int
    total: int | None
    # Bytes a second over the last few seconds, measured by the step (core/progress.py), and
    # the limit it is held to (the seed stream's stream_limit); None: not known, or none.
    rate: float | None = None
    limit: int | None = None


@dataclass(frozen=True)
class StepDone:
    step: str
    seconds: float


@dataclass(frozen=True)
class StepFailed:
    step: str
    error: str


@dataclass(frozen=True)
class Warning_:
    step: str
    message: str


Event = StepStarted | ActionStarted | OutputLine | Progress | StepDone | StepFailed | Warning_
EventSink = Callable[[Event], None]


def ignore(_: Event) -> None:
    return None
