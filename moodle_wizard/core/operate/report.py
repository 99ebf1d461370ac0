"""What an operation tells the operator when it is done."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["OperationReport"]


@dataclass(frozen=True)
class OperationReport:
    kind: str  # switchover | failover | rejoin
    old_primary: str
    new_primary: str
    seconds: float
    # What the operator is told at the end, one line each (lost transactions, what was fenced,
    # what to do next).
    lines: list[str] = field(default_factory=list)
