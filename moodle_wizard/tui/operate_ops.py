"""The Operate screen's operations, run in the engine thread (see runner.py), as ops.py runs
the migration's: one session opened the way the headless commands open it, one call to core's
public API (core/operate/api.py, the drills), plain values back. Nothing here decides
anything about the cluster; the words of the headline are the only thing added."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moodle_wizard.core import drill as vip_drill
from moodle_wizard.core.context import Context
from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.operate import api
from moodle_wizard.core.state import MigrationState
from moodle_wizard.tui.operations import ClusterOperation, Drill, Failover, Rejoin, Switchover
from moodle_wizard.tui.ops import Settings, StateSnapshot, _Emitter, _session
from moodle_wizard.tui.runner import SessionIO

# The drills of issue 13 beyond `drill vip` live here once core has them.
DRILLS_MODULE = "moodle_wizard.core.operate.drills"


@dataclass(frozen=True)
class OperateResult:
    """What an operation ended with: one headline, the report's lines, the journal after."""

    headline: str
    lines: list[str] = field(default_factory=list)
    state: MigrationState | None = None


async def run_operation(io: SessionIO, settings: Settings, inventory: Inventory,
                        state: MigrationState, path: Path,
                        request: ClusterOperation) -> OperateResult:
    """Run `request` in the migration's session (its journal, its lock held by the app)."""
    emitter = _Emitter(io)
    async with _session(io, settings, inventory, state, path, emitter) as ctx:
        emitter.ctx = ctx
        try:
            headline, lines = await _call(ctx, request)
        finally:
            # Also after a refusal or a failure: the journal records how far it went.
            io.post(StateSnapshot(ctx.state.model_copy(deep=True)))
        return OperateResult(headline, lines, ctx.state.model_copy(deep=True))


async def _call(ctx: Context, request: ClusterOperation) -> tuple[str, list[str]]:
    match request:
        case Switchover(target=target):
            report = await api.switchover(ctx, target)
        case Failover(to=to):
            report = await api.failover(ctx, to)
        case Rejoin(host=host):
            report = await api.rejoin(ctx, host)
        case Drill(which="vip"):
            return await _drill_vip(ctx)
        case Drill(which=which):
            return await _drill(ctx, which)
        case _:
            raise TypeError(f"not a cluster operation: {request!r}")
    if isinstance(request, Rejoin):
        headline = (f"{request.host} is a replica of {report.new_primary} again; rejoin took "
                    f"{report.seconds:.1f} s")
    else:
        headline = (f"{report.new_primary} is the primary now (was {report.old_primary}); "
                    f"{report.kind} took {report.seconds:.1f} s")
    return headline, list(report.lines)


async def _drill_vip(ctx: Context) -> tuple[str, list[str]]:
    result = await vip_drill.drill_vip(ctx)
    return (f"the VIP moved from {result.old_holder} to {result.new_holder} in "
            f"{result.seconds:.2f} s",
            [f"Moodle's user logged in through it, reaching {result.reached.hostname}",
             f"ProxySQL on {result.old_holder} runs again"])


async def _drill(ctx: Context, which: str) -> tuple[str, list[str]]:
    """`drill switchover` and `drill primary`: core's DrillReport (kind, lines)."""
    try:
        module: Any = importlib.import_module(DRILLS_MODULE)
    except ImportError:
        raise OperatorError(f"drill {which} is not in this version of the wizard; "
                            "drill vip is") from None
    run = getattr(module, f"drill_{which}", None)
    if run is None:
        raise OperatorError(f"there is no drill {which!r}: the drills are vip, switchover "
                            "and primary")
    report = await run(ctx)
    return f"drill {which}: done", [str(line) for line in report.lines]
