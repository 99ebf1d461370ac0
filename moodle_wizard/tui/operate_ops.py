"""The Operate screen's operations, run in the engine thread (see runner.py), as ops.py runs
the migration's: one session opened the way the headless commands open it, one call to core's
public API (core/operate/api.py, the drills), plain values back. Nothing here decides
anything about the cluster; the words of the headline are the only thing added."""

from __future__ import annotations

from pathlib import Path

from moodle_wizard.core import drill as vip_drill
from moodle_wizard.core import events as ev
from moodle_wizard.core.context import Context
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.operate import api, drills
from moodle_wizard.core.state import MigrationState
from moodle_wizard.tui.operations import (
    ClusterOperation,
    Drill,
    Failover,
    Rejoin,
    Switchover,
    SyncUsers,
)
from moodle_wizard.tui.ops import Settings, StateSnapshot, _Emitter, _session
from moodle_wizard.tui.results import OperateResult
from moodle_wizard.tui.runner import SessionIO


class _Said(_Emitter):
    """Also keeps the output lines said so far (drill primary reads the failover's time to
    confirm the primary down from them, as headless's drill does)."""

    def __init__(self, io: SessionIO) -> None:
        super().__init__(io)
        self.lines: list[str] = []

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.OutputLine):
            self.lines.append(event.line)
        super().__call__(event)


async def run_operation(io: SessionIO, settings: Settings, inventory: Inventory,
                        state: MigrationState, path: Path,
                        request: ClusterOperation) -> OperateResult:
    """Run `request` in the migration's session (its journal, its lock held by the app)."""
    emitter = _Said(io)
    async with _session(io, settings, inventory, state, path, emitter) as ctx:
        emitter.ctx = ctx
        try:
            headline, lines, ok = await _call(ctx, request, emitter.lines)
        finally:
            # Also after a refusal or a failure: the journal records how far it went.
            io.post(StateSnapshot(ctx.state.model_copy(deep=True)))
        return OperateResult(headline, lines, ctx.state.model_copy(deep=True), ok)


async def _call(ctx: Context, request: ClusterOperation,
                said: list[str]) -> tuple[str, list[str], bool]:
    match request:
        case Switchover(target=target):
            report = await api.switchover(ctx, target)
        case Failover(to=to):
            report = await api.failover(ctx, to)
        case Rejoin(host=host):
            report = await api.rejoin(ctx, host)
        case SyncUsers():
            report = await api.proxysql_sync(ctx)
            return _synced(report), list(report.lines), True
        case Drill(which="vip"):
            return await _drill_vip(ctx)
        case Drill(which=which):
            return await _drill(ctx, which, said)
        case _:
            raise TypeError(f"not a cluster operation: {request!r}")
    if isinstance(request, Rejoin):
        headline = (f"{request.host} is a replica of {report.new_primary} again; rejoin took "
                    f"{report.seconds:.1f} s")
    else:
        headline = (f"{report.new_primary} is the primary now (was {report.old_primary}); "
                    f"{report.kind} took {report.seconds:.1f} s")
    return headline, list(report.lines), True


def _synced(report: api.OperationReport) -> str:
    if report.lines and report.lines[-1].startswith("nothing to change"):
        return "every ProxySQL node already had config.php's password"
    return f"every ProxySQL node has config.php's password now ({report.seconds:.1f} s)"


async def _drill_vip(ctx: Context) -> tuple[str, list[str], bool]:
    result = await vip_drill.drill_vip(ctx)
    return (f"the VIP moved from {result.old_holder} to {result.new_holder} in "
            f"{result.seconds:.2f} s",
            [f"Moodle's user logged in through it, reaching {result.reached.hostname}",
             f"ProxySQL on {result.old_holder} runs again"], True)


async def _drill(ctx: Context, which: str, said: list[str]) -> tuple[str, list[str], bool]:
    """`drill switchover` and `drill primary` (core/operate/drills.py): its summary, then
    each target it missed, as `moodle-wizard drill` prints them. The questions the operations
    ask on the way are the operator's, as every question in the wizard."""
    result: drills.SwitchoverDrill | drills.PrimaryDrill
    if which == "switchover":
        result = await drills.drill_switchover(ctx)
    elif which == "primary":
        result = await drills.drill_primary(ctx, None, said)
    else:
        raise ValueError(f"no drill {which!r}")
    missed = result.missed()
    headline = (f"{len(missed)} target(s) missed" if missed else "every target met")
    return headline, [*result.summary(), *(f"MISSED: {m}" for m in missed)], not missed
