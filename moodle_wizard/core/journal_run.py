"""One journaled action: recorded running before it starts and done after it ends, skipped
when the journal says it is done, re-checked (not blindly redone) when it was in flight as
the wizard stopped. The migration's steps and the operations after it share this."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moodle_wizard.core.events import ActionStarted
from moodle_wizard.core.failpoint import crash_point
from moodle_wizard.core.records import ActionRecord, ActionStatus, now

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context
    from moodle_wizard.core.steps.base import Action


async def run_journaled(ctx: Context, records: list[ActionRecord], label: str, action: Action,
                        action_id: str) -> None:
    """Run `action` once, journaling it in `records` (saved with ctx.save()); `label` names
    the step or operation in events, the audit log and the crash points."""
    existing = next((a for a in records if a.id == action_id), None)
    if existing is not None and existing.status == ActionStatus.DONE:
        return
    if existing is not None and action.done is not None and await action.done():
        # In flight when the wizard stopped, and its effect is there: do not redo it.
        existing.status = ActionStatus.DONE
        existing.finished_at = now()
        ctx.save()
        return
    if existing is None:
        existing = ActionRecord(id=action_id, status=ActionStatus.RUNNING)
        records.append(existing)
    existing.status = ActionStatus.RUNNING
    ctx.save()
    ctx.emit(ActionStarted(label, action_id, action.title))
    await action.run()
    existing.status = ActionStatus.DONE
    existing.finished_at = now()
    ctx.save()
    # The boundaries in order, for the operator reading the audit log after a crash (and
    # for the crash matrix, which enumerates them from a reference run).
    point = f"{label}/{action_id}"
    ctx.audit.record("wizard", "action done", point)
    crash_point(point)
