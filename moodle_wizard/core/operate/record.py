"""The journal's record of the cluster after the migration: who is the primary now, which old
primary a failover fenced, and the operations (switchover, failover, rejoin) that ran.

An operation is journaled like a step: each action's record is saved before and after it
runs, so a wizard killed in the middle continues where it stopped (`core/operate/runner.py`).
Nothing here is a secret; GTID positions and host names only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from moodle_wizard.core.records import ActionRecord, Record, now

__all__ = ["Cluster", "Operation", "OperationFacts", "OperationKind", "OperationStatus"]


class OperationKind(StrEnum):
    SWITCHOVER = "switchover"
    FAILOVER = "failover"
    REJOIN = "rejoin"
    # Moodle's password given to every ProxySQL node (operate/sync.py): in the history only.
    SYNC = "proxysql sync"


class OperationStatus(StrEnum):
    RUNNING = "running"
    # Stopped by an error; run the same command again to continue (or, before the point of
    # no return, it was undone: UNDONE).
    FAILED = "failed"
    DONE = "done"
    UNDONE = "undone"


class OperationFacts(Record):
    """What an operation learned as it ran, for resuming it and for its report."""

    # Switchover: the old primary's @@gtid_binlog_pos once it was read-only (what the target
    # must have applied before it is promoted).
    primary_gtid: str | None = None
    # Whether the wizard set read_only on the old primary (the undo clears only its own).
    set_read_only: bool = False
    # Each host's role file before the operation wrote it (None: there was none), so the undo
    # puts back exactly what was there.
    role_files: dict[str, str | None] = Field(default_factory=dict)
    # Failover: each replica's applied position (@@gtid_slave_pos) once its relay log was
    # applied, which the choice of the new primary was made from.
    positions: dict[str, str] = Field(default_factory=dict)
    # Failover: the old primary's last known position, and where it was read.
    last_known: str | None = None
    last_known_from: str = ""
    # Failover: what the new primary lacks of it (one line per domain), and the hosts that
    # confirmed the old primary was down.
    lost: list[str] = Field(default_factory=list)
    confirmed_down_by: list[str] = Field(default_factory=list)
    # The new primary's position when it was promoted.
    promoted_at: str | None = None


class Operation(Record):
    kind: OperationKind
    # Switchover and failover: the new primary. Rejoin: the host that rejoins.
    target: str
    # The primary when the operation started.
    old_primary: str
    status: OperationStatus = OperationStatus.RUNNING
    started_at: datetime = Field(default_factory=now)
    finished_at: datetime | None = None
    actions: list[ActionRecord] = Field(default_factory=list)
    facts: OperationFacts = Field(default_factory=OperationFacts)
    last_error: str | None = None

    def done(self, action_id: str) -> bool:
        return any(a.id == action_id and a.status == "done" for a in self.actions)

    def continue_command(self) -> str:
        """The command that continues this operation (it resumes from the journal)."""
        if self.kind == OperationKind.SWITCHOVER:
            return f"moodle-wizard switchover --to {self.target}"
        if self.kind == OperationKind.REJOIN:
            return f"moodle-wizard rejoin {self.target}"
        if self.kind == OperationKind.SYNC:
            return "moodle-wizard proxysql sync"
        return "moodle-wizard failover"  # continues the one in flight, whatever its target


class Cluster(Record):
    # The primary now; None while it is still the inventory's source (no switchover or
    # failover has run, or the last one switched back to it).
    primary: str | None = None
    # Old primaries a failover took out of ProxySQL (OFFLINE_HARD): they take no traffic
    # until `moodle-wizard rejoin` makes them replicas again.
    fenced: list[str] = Field(default_factory=list)
    # The operation in flight (running, or failed and waiting to be continued).
    operation: Operation | None = None
    history: list[Operation] = Field(default_factory=list)

    def primary_of(self, source: str) -> str:
        return self.primary or source
