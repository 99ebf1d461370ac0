"""`moodle-wizard rejoin HOST`: an old primary that a failover fenced comes back as a replica.

Before any change: its binary log is compared with the primary's (@@gtid_binlog_state). A
transaction it has that the primary lacks was committed on it and never reached a replica
before it failed: replicating on top of it would leave the two with different data, so the
rejoin is refused, naming those transactions, and the host must be re-seeded (its data
replaced by a copy of the primary's). Otherwise, journaled:
1. it is read-only (and its files say so);
2. it replicates from the primary, from its own binary log's position;
3. it has applied everything the primary had when it started;
4. on every proxy node it is a reader again (no longer OFFLINE_HARD).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from moodle_wizard.core.errors import OperatorError, StepError
from moodle_wizard.core.operate import commands as cmd
from moodle_wizard.core.operate import moves
from moodle_wizard.core.operate.choice import lost_transactions
from moodle_wizard.core.operate.operation import (
    OperationRefused,
    Plan,
    begin,
    require_migrated,
    run,
)
from moodle_wizard.core.operate.reads import server_view
from moodle_wizard.core.operate.record import Operation, OperationKind
from moodle_wizard.core.operate.report import OperationReport
from moodle_wizard.core.operate.topology import Topology, topology
from moodle_wizard.core.sql.gtid import beyond, parse_state
from moodle_wizard.core.steps.base import Action

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

KIND = OperationKind.REJOIN
CATCH_UP_TIMEOUT_S = 120.0


async def rejoin_problems(ctx: Context, host: str) -> list[str]:
    """Why `host` cannot rejoin as it is (reads only)."""
    topo = topology(ctx.inventory, ctx.state.cluster)
    if host not in topo.fenced:
        return [f"{host} is not fenced (fenced: {', '.join(topo.fenced) or 'none'}): only an "
                "old primary a failover took out rejoins"]
    try:
        mine = await server_view(ctx, host)
    except OperatorError as exc:
        return [f"{host}'s database server does not answer ({ctx.secrets.mask(str(exc))}): "
                f"start it (its files keep it read-only) and run rejoin again"]
    primary = await server_view(ctx, topo.primary)
    found = beyond(parse_state(mine.binlog_state, source=f"{host}'s @@gtid_binlog_state"),
                   parse_state(primary.binlog_state,
                               source=f"{topo.primary}'s @@gtid_binlog_state"))
    if found.proven or found.doubts:
        lost = lost_transactions(parse_state(mine.binlog_state),
                                 parse_state(primary.binlog_state)).text()
        return [f"{host} has transactions the primary {topo.primary} never received "
                f"({'; '.join(lost)}): they were committed on {host} after the last one a "
                "replica got, and are not in the cluster's data. Replicating on top of them "
                f"would leave {host} different from the others: re-seed it (replace its data "
                f"with a copy of {topo.primary}'s), after saving those transactions from its "
                "binary log if they matter (mariadb-binlog --start-position=...)"]
    return []


class Rejoin:
    def __init__(self, ctx: Context, op: Operation) -> None:
        self.ctx, self.op, self.host = ctx, op, op.target
        self.topo = topology(ctx.inventory, ctx.state.cluster)

    def after(self) -> Topology:
        t = self.topo
        fenced = tuple(f for f in t.fenced if f != self.host)
        replicas = tuple(m for m in t.members if m != t.primary and m not in fenced)
        return Topology(t.primary, replicas, fenced, t.members)

    def plan(self) -> Plan:
        ctx, host, primary = self.ctx, self.host, self.topo.primary
        actions: list[Action] = [
            moves.action(ctx, "read-only", f"Make {host} read-only",
                         [cmd.read_only(host, True), *moves.role_file(ctx, host, False)],
                         host=host),
            moves.repoint(ctx, host, primary, was_primary=True),
            Action("catch-up", f"Wait until {host} has caught up with {primary} (at most "
                   f"{CATCH_UP_TIMEOUT_S:.0f} s)", self._catch_up,
                   [f"on {primary}: SELECT @@gtid_binlog_pos",
                    f"on {host}: SELECT MASTER_GTID_WAIT(<that position>, "
                    f"{CATCH_UP_TIMEOUT_S:.0f})"], host=host),
            *moves.proxies_layout(ctx, self.after()),
            Action("unfenced", f"Record {host} as a replica again", self._unfenced,
                   [f"the journal: {host} no longer fenced"]),
        ]
        return Plan(f"Rejoin {host} as a replica of {primary}", actions, (), actions[0].id,
                    "nothing was changed")

    async def _unfenced(self) -> None:
        cluster = self.ctx.state.cluster
        cluster.fenced = [f for f in cluster.fenced if f != self.host]
        self.ctx.save()

    async def _catch_up(self) -> None:
        db = await self.ctx.db(self.topo.primary)
        position = str(await db.variable("gtid_binlog_pos"))
        if not await moves.wait_gtid(self.ctx, self.host, position, CATCH_UP_TIMEOUT_S):
            raise StepError(f"{self.host} did not catch up with {self.topo.primary} (up to "
                            f"{position}) within {CATCH_UP_TIMEOUT_S:.0f} s; run rejoin again "
                            "to keep waiting")


async def run_rejoin(ctx: Context, host: str) -> OperationReport:
    require_migrated(ctx, KIND)
    op = ctx.state.cluster.operation
    if op is None or op.kind != KIND or op.target != host:
        problems = await rejoin_problems(ctx, host)
        if problems:
            raise OperationRefused(f"rejoin {host} refused: {problems[0]}; nothing was "
                                   "changed")
        topo = topology(ctx.inventory, ctx.state.cluster)
        op = begin(ctx, KIND, host, topo.primary)
    rj = Rejoin(ctx, op)
    seconds = await run(ctx, op, rj.plan())
    return OperationReport(KIND, rj.topo.primary, rj.topo.primary, seconds, [
        f"{host} replicates from {rj.topo.primary} and serves reads again",
        f"to make it the primary again: `moodle-wizard switchover --to {host}`"])
