"""Running an operation (switchover, failover, rejoin) as the engine runs a step: each action
journaled before and after it runs (core/journal_run.py), so the same command run again after
a crash continues where the wizard stopped; an operation that fails before its point of no
return is undone, one that fails after it waits to be continued.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from moodle_wizard.core.engine import MigrationError
from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.events import StepDone, StepFailed, StepStarted
from moodle_wizard.core.journal_run import run_journaled
from moodle_wizard.core.operate.record import (
    Operation,
    OperationKind,
    OperationStatus,
)
from moodle_wizard.core.records import now
from moodle_wizard.core.state import StepStatus

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context
    from moodle_wizard.core.steps.base import Action


class OperationRefused(MigrationError):
    """The operation cannot start; nothing was changed."""


def require_migrated(ctx: Context, kind: OperationKind) -> None:
    """Operations are for the migrated cluster: every step done, not rolled back."""
    left = [name for name, step in ctx.state.steps.items() if step.status != StepStatus.DONE]
    if left:
        raise OperationRefused(f"{kind}: the migration is not complete ({', '.join(left)} not "
                               "done): finish it with `moodle-wizard resume` first; nothing was "
                               "changed")


def begin(ctx: Context, kind: OperationKind, target: str, old_primary: str) -> Operation:
    """The operation to run: the one in flight if it is this one (continued), else a new one
    (refused while another is in flight)."""
    cluster = ctx.state.cluster
    op = cluster.operation
    if op is not None:
        if op.kind == kind and op.target == target:
            return op
        raise OperationRefused(
            f"{kind}: a {op.kind} to {op.target} is in flight ({op.status}"
            f"{': ' + op.last_error if op.last_error else ''}); finish it first with "
            f"`{op.continue_command()}`; nothing was changed")
    op = Operation(kind=kind, target=target, old_primary=old_primary)
    cluster.operation = op
    ctx.save()
    return op


@dataclass
class Plan:
    """An operation's actions. `point_of_no_return`: the action after which the operation only
    goes forward (before it, a failure runs `undo`)."""

    title: str
    actions: Sequence[Action]
    undo: Sequence[Action] = ()
    point_of_no_return: str | None = None
    undo_note: str = ""
    notes: list[str] = field(default_factory=list)


async def run(ctx: Context, op: Operation, plan: Plan) -> float:
    """Run `plan`'s actions journaled in `op`; the seconds it took. On an error: before the
    point of no return, the undo actions run and the operation is UNDONE; after it, the
    operation is FAILED and stays in flight, to be continued by the same command."""
    started = time.monotonic()
    ctx.current_step = op.kind
    ctx.emit(StepStarted(op.kind, plan.title))
    op.status = OperationStatus.RUNNING
    op.last_error = None
    ctx.save()
    try:
        for action in plan.actions:
            await run_journaled(ctx, op.actions, op.kind, action, action.id)
    except OperatorError as exc:
        why = ctx.secrets.mask(str(exc))
        op.last_error = why
        ctx.emit(StepFailed(op.kind, why))
        if plan.point_of_no_return is None or not op.done(plan.point_of_no_return):
            await _undo(ctx, op, plan)
            raise MigrationError(f"{op.kind}: {why}; undone: {plan.undo_note}") from None
        op.status = OperationStatus.FAILED
        ctx.save()
        raise MigrationError(f"{op.kind}: {why}; the new primary is in place, the rest is "
                             f"not: run `{op.continue_command()}` again to continue") from None
    close(ctx, op, OperationStatus.DONE)
    seconds = time.monotonic() - started
    ctx.emit(StepDone(op.kind, seconds))
    return seconds


async def _undo(ctx: Context, op: Operation, plan: Plan) -> None:
    try:
        for action in plan.undo:
            await run_journaled(ctx, op.actions, op.kind, action, "undo:" + action.id)
    except OperatorError as exc:
        op.status = OperationStatus.FAILED
        op.last_error = ctx.secrets.mask(f"{op.last_error}; and undoing it failed: {exc}")
        ctx.save()
        raise MigrationError(f"{op.kind}: {op.last_error}; run `{op.continue_command()} --abort` "
                             "again to finish undoing it") from None
    close(ctx, op, OperationStatus.UNDONE)


def close(ctx: Context, op: Operation, status: OperationStatus) -> None:
    op.status = status
    op.finished_at = now()
    cluster = ctx.state.cluster
    cluster.history.append(op)
    cluster.operation = None
    ctx.save()


async def abort(ctx: Context, op: Operation, plan: Plan) -> None:
    """`--abort`: undo an operation in flight that has not passed its point of no return."""
    if plan.point_of_no_return is not None and op.done(plan.point_of_no_return):
        raise OperationRefused(f"{op.kind}: {op.target} is already promoted; it cannot be "
                               f"undone, only finished: run `{op.continue_command()}`")
    ctx.emit(StepStarted(op.kind, f"Undo: {plan.title}"))
    op.last_error = op.last_error or "aborted by the operator"
    await _undo(ctx, op, plan)
