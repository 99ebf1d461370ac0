"""The engine operations the UI starts, as typed requests.

A request says what to do (discover, run until a step, roll back to a step ...) and, by its
type parameter, what the operation returns. The app binds it to the open migration's
inventory and journal and hands the work to the runner (see dispatch.py); when it ends, the
runner posts OpDone carrying the request, and the app handles the outcome by the request's
type. Nothing here touches Textual or the engine: these are plain values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from moodle_wizard.core.state import StepName

if TYPE_CHECKING:
    # Named in the requests' type parameters as strings: the operations import the runner,
    # which imports this module (and ruff does not read strings in a base class).
    from moodle_wizard.core.health import HealthItem  # noqa: F401
    from moodle_wizard.core.journal import Finding  # noqa: F401
    from moodle_wizard.tui.results import (  # noqa: F401
        ConnectionReport,
        DiscoveryResult,
        OperateResult,
        ReviewResult,
        RunResult,
    )
    from moodle_wizard.tui.runner import SessionIO

R = TypeVar("R")
# What the engine thread runs for a request: it gets the session's way to the UI.
Work = Callable[["SessionIO"], Awaitable[R]]


@dataclass(frozen=True)
class Operation(Generic[R]):
    """One engine operation; R is what it returns."""

    kind: ClassVar[str] = ""
    # Quitting while it runs asks first (it changes hosts; the journal lets it resume).
    changes_hosts: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """Its key in app.errors, the topic the screens hear, and what busy notices say."""
        return self.kind


@dataclass(frozen=True)
class Connect(Operation["ConnectionReport"]):
    """SSH to every host of the draft, then read config.php."""

    kind: ClassVar[str] = "connect"


@dataclass(frozen=True)
class Discover(Operation["DiscoveryResult"]):
    """The discovery step, journaled, and every later step's read-only findings."""

    kind: ClassVar[str] = "discover"


@dataclass(frozen=True)
class Review(Operation["ReviewResult"]):
    """The runbook and the findings, in a dry session."""

    kind: ClassVar[str] = "review"


@dataclass(frozen=True)
class CheckStep(Operation["list[Finding]"]):
    """One step's read-only preflight (the VIP screen's "is the address free?")."""

    step: StepName
    kind: ClassVar[str] = "check"

    @property
    def name(self) -> str:
        return f"check-{self.step.value}"


@dataclass(frozen=True)
class Run(Operation["RunResult"]):
    """The migration from the journal on, up to and including `until` (None: to the end)."""

    until: StepName | None = None
    kind: ClassVar[str] = "run"
    changes_hosts: ClassVar[bool] = True


@dataclass(frozen=True)
class Rollback(Operation["RunResult"]):
    """Undo `to` and every step after it (None: everything), newest first."""

    to: StepName | None = None
    force_config: bool = False
    kind: ClassVar[str] = "rollback"
    changes_hosts: ClassVar[bool] = True


@dataclass(frozen=True)
class Health(Operation["list[HealthItem]"]):
    """The migrated cluster seen from outside."""

    kind: ClassVar[str] = "health"


@dataclass(frozen=True)
class ClusterOperation(Operation["OperateResult"]):
    """After the migration: an operation on the cluster's primary or a drill (operate_ops.py
    runs it; the Operate screen shows its events and report)."""

    changes_hosts: ClassVar[bool] = True

    @property
    def title(self) -> str:
        """What the screen calls it ("switchover to db2")."""
        return self.name


@dataclass(frozen=True)
class Switchover(ClusterOperation):
    """Planned: replica `target` becomes the primary."""

    target: str = ""
    kind: ClassVar[str] = "switchover"

    @property
    def title(self) -> str:
        return f"switchover to {self.target}"


@dataclass(frozen=True)
class Failover(ClusterOperation):
    """The primary is gone: promote `to` (None: the most advanced replica), fence the old."""

    to: str | None = None
    kind: ClassVar[str] = "failover"

    @property
    def title(self) -> str:
        return f"failover to {self.to}" if self.to else "failover"


@dataclass(frozen=True)
class Rejoin(ClusterOperation):
    """A fenced old primary comes back as a replica."""

    host: str = ""
    kind: ClassVar[str] = "rejoin"

    @property
    def title(self) -> str:
        return f"rejoin of {self.host}"


@dataclass(frozen=True)
class SyncUsers(ClusterOperation):
    """Moodle's password, changed after the migration, given to every ProxySQL node
    (`moodle-wizard proxysql sync`)."""

    kind: ClassVar[str] = "proxysql-sync"

    @property
    def title(self) -> str:
        return "ProxySQL users sync"


@dataclass(frozen=True)
class Drill(ClusterOperation):
    """A measured rehearsal: `which` is vip, switchover or primary."""

    which: str = "vip"
    kind: ClassVar[str] = "drill"

    @property
    def name(self) -> str:
        return f"drill-{self.which}"

    @property
    def title(self) -> str:
        return f"drill {self.which}"


@dataclass(frozen=True)
class Scripted(Operation[Any]):
    """Work given by name alone (tests script the engine thread this way) whose name is not
    one of the kinds above."""

    label: str = "scripted"

    @property
    def name(self) -> str:
        return self.label


# The requests a name alone can stand for (every field has a default).
_BY_NAME: dict[str, type[Operation[Any]]] = {
    c.kind: c for c in (Connect, Discover, Review, Run, Rollback, Health)}


def named(name: str) -> Operation[Any]:
    """The request a bare operation name stands for (`runner.start("run", work)`)."""
    cls = _BY_NAME.get(name)
    return cls() if cls is not None else Scripted(name)
