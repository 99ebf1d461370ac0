"""What the engine operations report to the screens (tui/ops.py runs them). Plain data, light
to import: the app and its first screen know these types without loading the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from moodle_wizard.core.journal import Finding
from moodle_wizard.core.state import MigrationOrder, MigrationState

__all__ = ["ConnectionReport", "DiscoveryResult", "HostCheck", "MoodleConfig", "OperateResult",
           "ReviewResult", "RunResult", "Settings", "StateSnapshot"]


@dataclass(frozen=True)
class HostCheck:
    name: str
    address: str
    ok: bool
    reason: str = ""
    changed_key: bool = False


@dataclass(frozen=True)
class MoodleConfig:
    """What config.php on the app host says, the password masked."""

    values: dict[str, str]
    error: str | None = None


@dataclass(frozen=True)
class ConnectionReport:
    hosts: list[HostCheck]
    moodle: MoodleConfig | None


@dataclass(frozen=True)
class StateSnapshot:
    state: MigrationState


@dataclass(frozen=True)
class DiscoveryResult:
    state: MigrationState
    findings: list[Finding]


@dataclass(frozen=True)
class ReviewResult:
    runbook: str
    findings: list[Finding]
    # The order the steps will run in and why (core/steps/order.py decides).
    order: MigrationOrder | None = None
    why: str = ""


@dataclass(frozen=True)
class RunResult:
    state: MigrationState
    undone: list[str] = field(default_factory=list)


@dataclass
class Settings:
    """How sessions are opened (tests point known_hosts at a file of their own)."""

    known_hosts: Path | None = None


@dataclass(frozen=True)
class OperateResult:
    """What an operation ended with: one headline, the report's lines, the journal after;
    `ok` False when it ran to its end but missed its targets (a drill's failed writes)."""

    headline: str
    lines: list[str] = field(default_factory=list)
    state: MigrationState | None = None
    ok: bool = True
