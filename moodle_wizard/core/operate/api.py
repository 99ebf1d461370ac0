"""The operations after the migration, as the headless commands and the TUI call them.

Each runs in the caller's session (a Context with the migration's journal, under its lock),
reports through ctx.emit (StepStarted / ActionStarted / OutputLine / StepDone / StepFailed,
with the operation's kind as the step name) and asks through ctx.confirm; each raises an
OperatorError with one clear line when it refuses or fails, and journals every action, so
running the same command again after a crash continues it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from moodle_wizard.core.operate.report import OperationReport

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["OperationReport", "failover", "proxysql_sync", "rejoin", "switchover"]


async def switchover(ctx: Context, target: str) -> OperationReport:
    """Planned: make replica `target` the primary, the old primary its replica."""
    from moodle_wizard.core.operate.switchover import run_switchover

    return await run_switchover(ctx, target)


async def failover(ctx: Context, to: str | None = None) -> OperationReport:
    """The primary is dead: promote the most advanced replica (or `to`), fence the old one."""
    from moodle_wizard.core.operate.failover import run_failover

    return await run_failover(ctx, to)


async def rejoin(ctx: Context, host: str) -> OperationReport:
    """A fenced old primary comes back as a replica of the primary (or is refused, with why)."""
    from moodle_wizard.core.operate.rejoin import run_rejoin

    return await run_rejoin(ctx, host)


async def proxysql_sync(ctx: Context) -> OperationReport:
    """Moodle's password from config.php again, given to every ProxySQL node that lacks it."""
    from moodle_wizard.core.operate.sync import run_sync

    return await run_sync(ctx)
