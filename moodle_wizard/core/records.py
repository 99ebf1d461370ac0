"""The journal's building blocks shared by the migration's steps and the operations after it:
the strict model base and one action's record."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ActionRecord", "ActionStatus", "Record", "now"]


def now() -> datetime:
    return datetime.now(UTC)


class Record(BaseModel):
    # Unknown keys mean a corrupt or foreign file, not something to drop silently.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ActionStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"


class ActionRecord(Record):
    id: str
    status: ActionStatus
    started_at: datetime = Field(default_factory=now)
    finished_at: datetime | None = None
