"""`moodle-wizard switchover --to HOST`: a planned change of primary, no write lost, no
Moodle write failed.

The order, and why:
1. the replication user for every server's address (the old primary will replicate too);
2. on every proxy node the primary OFFLINE_SOFT in the writer hostgroup: ProxySQL lets running
   transactions finish and holds new writer queries (up to mysql-connect_timeout_server_max)
   until a writer is ONLINE again, so Moodle sees a pause, not errors on a read-only server;
3. wait (briefly) for the proxies' connections to the primary to be returned;
4. the primary read-only (also after a restart: its role file), then its last GTID position;
5. wait until the target has applied that position (a deadline: if it is not reached, all of
   the above is undone and the old primary is the writer again);
6. promote the target (the point of no return);
7. on every proxy node the target the writer, the others readers (saved to disk);
8. every other server, the old primary too, replicates from the target by GTID;
9. Moodle's user writes through the VIP to the target.
Switching back is a switchover to the old primary.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from moodle_wizard.core.errors import OperatorError, StepError
from moodle_wizard.core.events import OutputLine
from moodle_wizard.core.operate import commands as cmd
from moodle_wizard.core.operate import moves
from moodle_wizard.core.operate.choice import switchover_problems
from moodle_wizard.core.operate.operation import (
    OperationRefused,
    Plan,
    abort,
    begin,
    require_migrated,
    run,
)
from moodle_wizard.core.operate.reads import (
    ServerView,
    address,
    conn_used,
    proxy_servers,
    server_view,
    status_of,
)
from moodle_wizard.core.operate.record import Operation, OperationKind
from moodle_wizard.core.operate.report import OperationReport
from moodle_wizard.core.operate.topology import Topology, topology
from moodle_wizard.core.poll import PollTimeout, poll_until
from moodle_wizard.core.sql.gtid import parse_state
from moodle_wizard.core.steps.base import Action, Problem, error

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

KIND = OperationKind.SWITCHOVER
CATCH_UP_TIMEOUT_S = 20.0
DRAIN_TIMEOUT_S = 3.0


class Switchover:
    def __init__(self, ctx: Context, target: str, op: Operation | None = None) -> None:
        self.ctx = ctx
        self.target = target
        self.topo = topology(ctx.inventory, ctx.state.cluster)
        # Resumed: the primary the operation started from (the journal may already name
        # the target as primary).
        self.old = op.old_primary if op is not None else self.topo.primary
        self.op = op

    # -- preflight: reads only ---------------------------------------------------------------

    async def problems(self) -> list[Problem]:
        ctx, target, old = self.ctx, self.target, self.old
        if target not in self.topo.members:
            return [error(f"{target} is not a database server of this cluster (they are "
                          f"{', '.join(self.topo.members)})")]
        if target == self.topo.primary:
            return [error(f"{target} is already the primary")]
        if target in self.topo.fenced:
            return [error(f"{target} was fenced by a failover: rejoin it first "
                          f"(`moodle-wizard rejoin {target}`)")]
        # The target before the primary: read after it, it could legitimately be ahead.
        views: dict[str, ServerView] = {}
        for name in (target, *[m for m in self.topo.others(old) if m != target], old):
            try:
                views[name] = await server_view(ctx, name)
            except OperatorError as exc:
                return [error(f"cannot read {name}: {ctx.secrets.mask(str(exc))}; a "
                              "switchover needs every server of the cluster answering (if the "
                              "primary is down, use `moodle-wizard failover`)")]
        primary, tv = views[old], views[target]
        problems: list[Problem] = []
        if primary.read_only:
            problems.append(error(f"the primary {old} is read-only already: Moodle cannot "
                                  "write; find out why (a switchover in flight by hand?) "
                                  "before switching over"))
        problems += switchover_problems(
            target, parse_state(primary.binlog_state, source=f"{old}'s @@gtid_binlog_state"),
            parse_state(tv.binlog_state, source=f"{target}'s @@gtid_binlog_state"),
            tv.replica, target_read_only=tv.read_only)
        if tv.replica is not None and tv.replica.source_host != address(ctx, old):
            problems.append(error(f"{target} replicates from {tv.replica.source_host}, not "
                                  f"from the primary {old} ({address(ctx, old)})"))
        for name, view in views.items():
            if not (view.log_bin and view.log_slave_updates):
                problems.append(error(
                    f"{name} has log_bin {'ON' if view.log_bin else 'OFF'} and "
                    f"log_slave_updates {'ON' if view.log_slave_updates else 'OFF'}: after "
                    "the switchover the others replicate from the new primary's binary log, "
                    "so every server needs both ON (set them in its option file, restart it)"))
        problems += await self._proxy_problems()
        return problems

    async def _proxy_problems(self) -> list[Problem]:
        ctx, w = self.ctx, self.ctx.inventory.proxysql.writer_hostgroup
        out: list[Problem] = []
        for px in ctx.inventory.proxies:
            try:
                servers = await proxy_servers(ctx, px)
            except OperatorError as exc:
                out.append(error(f"ProxySQL on {px} does not answer "
                                 f"({ctx.secrets.mask(str(exc))}): the switchover must hold "
                                 "Moodle's writes on every proxy node; bring it back first"))
                continue
            seen = status_of(servers, w, address(ctx, self.old))
            if seen != {"ONLINE"}:
                out.append(error(f"ProxySQL on {px} has {self.old} "
                                 f"{'/'.join(sorted(seen)) or 'not at all'} in the writer "
                                 f"hostgroup {w}, not ONLINE: check `moodle-wizard health`"))
        return out

    # -- the plan ----------------------------------------------------------------------------

    def after(self) -> Topology:
        t = self.topo
        replicas = tuple(m for m in t.members if m != self.target and m not in t.fenced)
        return Topology(self.target, replicas, t.fenced, t.members)

    def plan(self) -> Plan:
        ctx, old, target = self.ctx, self.old, self.target
        w = ctx.inventory.proxysql.writer_hostgroup
        old_addr = address(ctx, old)
        actions: list[Action] = [moves.replication_accounts(ctx, old, self.topo.members)]
        for px in ctx.inventory.proxies:
            actions.append(moves.action(
                ctx, f"hold:{px}", f"ProxySQL on {px}: hold Moodle's writes ({old} "
                "OFFLINE_SOFT in the writer hostgroup)", cmd.hold_writer(px, w, old_addr),
                done=partial(self._held, px), host=px))
        actions.append(Action(
            "drain", f"Wait up to {DRAIN_TIMEOUT_S:.0f} s for the proxies' connections to "
            f"{old} to finish", self._drain,
            [f"on each proxy node, ProxySQL admin: SELECT ConnUsed FROM "
             f"stats_mysql_connection_pool WHERE hostgroup = {w} AND srv_host = '{old_addr}' "
             "(until 0)"]))
        actions.append(moves.action(
            ctx, "read-only", f"Make {old} read-only", [cmd.read_only(old, True),
                                                        *moves.role_file(ctx, old, False)],
            done=partial(moves.read_only_is, ctx, old, True), after=self._read_only_set,
            host=old))
        actions.append(Action(
            "catch-up", f"Wait until {target} has applied everything {old} wrote "
            f"(at most {CATCH_UP_TIMEOUT_S:.0f} s)", self._catch_up,
            [f"on {old}: SELECT @@gtid_binlog_pos",
             f"on {target}: SELECT MASTER_GTID_WAIT(<that position>, "
             f"{CATCH_UP_TIMEOUT_S:.0f})"], host=target))
        actions.append(moves.promote(ctx, target, self._promoted))
        after = self.after()
        actions += moves.proxies_layout(ctx, after)
        actions += [moves.repoint(ctx, r, target, was_primary=(r == old))
                    for r in after.replicas]
        actions.append(moves.verify_writes(ctx, target))
        return Plan(f"Switch over from {old} to {target}", actions, self.undo(), "promote",
                    f"{old} is the writable primary again, ONLINE in ProxySQL")

    def undo(self) -> list[Action]:
        ctx, old = self.ctx, self.old
        w = ctx.inventory.proxysql.writer_hostgroup
        return [
            moves.action(ctx, "writable", f"Make {old} writable again",
                         [cmd.read_only(old, False), *moves.role_file(ctx, old, True)],
                         host=old),
            *(moves.action(ctx, f"release:{px}", f"ProxySQL on {px}: {old} ONLINE in the "
                           "writer hostgroup again",
                           cmd.release_writer(px, w, address(ctx, old)), host=px)
              for px in ctx.inventory.proxies)]

    # -- the actions' reads and waits ----------------------------------------------------------

    async def _held(self, px: str) -> bool:
        servers = await proxy_servers(self.ctx, px)
        return status_of(servers, self.ctx.inventory.proxysql.writer_hostgroup,
                         address(self.ctx, self.old)) == {"OFFLINE_SOFT"}

    async def _drain(self) -> None:
        ctx, w, addr = self.ctx, self.ctx.inventory.proxysql.writer_hostgroup, \
            address(self.ctx, self.old)

        async def drained() -> bool | None:
            used = await asyncio.gather(*(conn_used(ctx, px, w, addr)
                                          for px in ctx.inventory.proxies))
            return True if sum(used) == 0 else None

        try:
            await poll_until(drained, timeout_s=DRAIN_TIMEOUT_S, interval_s=0.05,
                             what="connections still in use")
        except PollTimeout:
            # A transaction longer than that: it fails at its next write on the read-only
            # primary, as it would in any switchover; say so rather than wait on it.
            ctx.emit(OutputLine(ctx.current_step, self.old, "connections still in use after "
                                f"{DRAIN_TIMEOUT_S:.0f} s: their next write fails"))

    async def _read_only_set(self) -> None:
        assert self.op is not None
        self.op.facts.set_read_only = True
        self.ctx.save()

    async def _catch_up(self) -> None:
        assert self.op is not None
        db = await self.ctx.db(self.old)
        position = str(await db.variable("gtid_binlog_pos"))
        self.op.facts.primary_gtid = position
        self.ctx.save()
        if not await moves.wait_gtid(self.ctx, self.target, position, CATCH_UP_TIMEOUT_S):
            raise StepError(f"{self.target} did not apply {self.old}'s last transactions "
                            f"(up to {position}) within {CATCH_UP_TIMEOUT_S:.0f} s")

    def _promoted(self) -> None:
        cluster = self.ctx.state.cluster
        cluster.primary = None if self.target == self.ctx.inventory.source else self.target
        assert self.op is not None
        self.op.facts.promoted_at = self.op.facts.primary_gtid


async def run_switchover(ctx: Context, target: str, *, abort_it: bool = False) -> OperationReport:
    require_migrated(ctx, KIND)
    op = ctx.state.cluster.operation
    resumed = op is not None and op.kind == KIND and op.target == target
    if abort_it:
        if not resumed or op is None:
            raise OperationRefused(f"switchover: no switchover to {target} is in flight; "
                                   "nothing was changed")
        so = Switchover(ctx, target, op)
        await abort(ctx, op, so.plan())
        return OperationReport(KIND, so.old, so.old, 0.0,
                               [f"switchover to {target} undone: {so.old} is the primary"])
    if not resumed:
        so = Switchover(ctx, target)
        problems = await so.problems()
        errors = [p for p in problems if p.level == "error"]
        if errors:
            lines = "\n".join(f"  - {p.message}" for p in errors)
            raise OperationRefused(f"switchover to {target} refused; nothing was changed:\n"
                                   f"{lines}")
        for p in problems:
            if p.level == "question" and not await ctx.confirm(p.message, p.risky):
                raise OperationRefused(f"switchover: {p.message} — declined; nothing was "
                                       "changed")
        op = begin(ctx, KIND, target, so.old)
    assert op is not None
    so = Switchover(ctx, target, op)
    seconds = await run(ctx, op, so.plan())
    return OperationReport(KIND, so.old, target, seconds, [
        f"{target} is the primary; {', '.join(so.after().replicas)} replicate from it",
        f"switch back with `moodle-wizard switchover --to {so.old}`"])


def switchover_plan(ctx: Context, target: str) -> Plan:
    """The plan as it would run now (for `--plan` and the runbook)."""
    return Switchover(ctx, target).plan()
