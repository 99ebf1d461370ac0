"""`moodle-wizard failover [--to HOST]`: the primary is dead; promote the replica that has
applied the most of it, fence the old one, repoint the rest.

Before any change (reads only): the primary is confirmed down from more than one vantage
point (core/operate/down.py); each replica applies what it already received (its relay log),
then its applied position is read, and the most advanced one is chosen (ask when two tie or
each has something the other lacks; `--to` or the inventory's preference decides a tie).
Then, journaled:
1. on every proxy node the old primary OFFLINE_HARD (fenced: no traffic, and ProxySQL's
   monitor cannot bring it back by read_only when it returns writable);
2. promote the chosen replica (the point after which the failover only goes forward);
3. on every proxy node the new primary the writer, the others readers, the old one fenced;
4. every other replica replicates from the new primary by GTID;
5. the old primary's own files say read-only (and its server, if it answers again), so a
   restart cannot bring it back as a writer;
6. Moodle's user writes through the VIP to the new primary.
The transactions possibly lost are reported: the old primary's last position any replica
received against what the new primary has. `moodle-wizard rejoin OLD` brings it back.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

from moodle_wizard.core.command import run_all
from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.events import OutputLine
from moodle_wizard.core.operate import commands as cmd
from moodle_wizard.core.operate import moves
from moodle_wizard.core.operate.choice import failover_candidate, lost_transactions
from moodle_wizard.core.operate.down import confirm_down, verdict
from moodle_wizard.core.operate.operation import (
    OperationRefused,
    Plan,
    begin,
    require_migrated,
    run,
)
from moodle_wizard.core.operate.reads import address, dialect, proxy_servers, status_of
from moodle_wizard.core.operate.record import Operation, OperationFacts, OperationKind
from moodle_wizard.core.operate.report import OperationReport
from moodle_wizard.core.operate.topology import Topology, topology
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.sql.gtid import GtidPosition, most_advanced, parse_position
from moodle_wizard.core.steps.base import Action

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

KIND = OperationKind.FAILOVER
RELAY_TIMEOUT_S = 60.0


async def applied_position(ctx: Context, name: str) -> tuple[GtidPosition, str]:
    """`name`'s applied position once its SQL thread has applied what its IO thread received
    (waits, up to RELAY_TIMEOUT_S), and what it had received (Gtid_IO_Pos)."""
    d = dialect(ctx)

    async def applied() -> tuple[str, str] | None:
        db = await ctx.db(name)
        rows = await db.run(d.show_replica_status())
        row = {k.lower(): v for k, v in (rows[0] if rows else {}).items()}
        if row and str(row.get("slave_sql_running", "")) == "Yes" and (
                row.get("master_log_file") != row.get("relay_master_log_file")
                or row.get("read_master_log_pos") != row.get("exec_master_log_pos")):
            return None  # still applying its relay log
        slave_pos = str(await db.variable("gtid_slave_pos") or "")
        return slave_pos, str(row.get("gtid_io_pos") or "")

    got = await poll_until(applied, timeout_s=RELAY_TIMEOUT_S, interval_s=0.2,
                           what=f"{name} did not apply its relay log within "
                                f"{RELAY_TIMEOUT_S:.0f} s")
    return parse_position(got[0], source=f"{name}'s @@gtid_slave_pos"), got[1]


class Failover:
    def __init__(self, ctx: Context, op: Operation) -> None:
        self.ctx, self.op = ctx, op
        self.old, self.target = op.old_primary, op.target
        self.topo = topology(ctx.inventory, ctx.state.cluster)

    def after(self) -> Topology:
        t = self.topo
        fenced = tuple(m for m in t.members if m in t.fenced or m == self.old)
        replicas = tuple(m for m in t.members if m != self.target and m not in fenced)
        return Topology(self.target, replicas, fenced, t.members)

    def plan(self) -> Plan:
        ctx, old, target = self.ctx, self.old, self.target
        old_addr = address(ctx, old)
        actions: list[Action] = [
            moves.action(ctx, f"fence:{px}", f"ProxySQL on {px}: fence {old} (OFFLINE_HARD)",
                         cmd.fence(px, old_addr), done=partial(self._fenced, px), host=px)
            for px in ctx.inventory.proxies]
        actions.append(moves.promote(ctx, target, self._promoted))
        after = self.after()
        actions += moves.proxies_layout(ctx, after)
        actions += [moves.repoint(ctx, r, target, was_primary=False) for r in after.replicas]
        actions.append(Action(
            "fence-old", f"{old} read-only, also after a restart (if its host answers)",
            self._fence_old, [f"only if its host answers: {c.render()}" for c in
                              (cmd.read_only(old, True), *moves.role_file(ctx, old, False))],
            host=old))
        actions.append(moves.verify_writes(ctx, target))
        first = actions[0].id
        return Plan(f"Fail over from {old} to {target}", actions, (), first,
                    "nothing was changed")

    async def _fenced(self, px: str) -> bool:
        servers = await proxy_servers(self.ctx, px)
        return status_of(servers, None, address(self.ctx, self.old)) <= {"OFFLINE_HARD"}

    def _promoted(self) -> None:
        cluster = self.ctx.state.cluster
        cluster.primary = None if self.target == self.ctx.inventory.source else self.target
        if self.old not in cluster.fenced:
            cluster.fenced = [*cluster.fenced, self.old]

    async def _fence_old(self) -> None:
        """Best effort: a dead host cannot be told anything; the proxies already fence it."""
        ctx, old = self.ctx, self.old
        try:
            await run_all(ctx, moves.role_file(ctx, old, False))
            said = "its option files now say read_only = ON"
        except OperatorError as exc:
            said = (f"its host does not answer ({ctx.secrets.mask(str(exc))}); fenced in "
                    "ProxySQL only")
        try:
            db = await ctx.db(old)
            await db.run(cmd.read_only(old, True).statement)
            said += "; its server answers again and is now read-only"
        except OperatorError:
            await ctx.forget_db(old)
        ctx.emit(OutputLine(ctx.current_step, old, said))


async def _choose(ctx: Context, topo: Topology, to: str | None) -> tuple[str, OperationFacts]:
    """Reads only: confirm the primary is down, let the replicas apply their relay logs,
    choose whom to promote; what was learned."""
    old, replicas = topo.primary, topo.replicas
    if to is not None and to not in replicas:
        raise OperationRefused(f"failover: {to} is not a serving replica (they are "
                               f"{', '.join(replicas)}); nothing was changed")
    ctx.emit(OutputLine(KIND, old, f"checking that {old} is down, from the wizard, "
                        f"{', '.join(replicas)} and {', '.join(ctx.inventory.proxies)}"))
    noticed = time.monotonic()
    ev = await confirm_down(ctx, old, replicas)
    refused = verdict(old, ev)
    if refused is not None:
        raise OperationRefused(f"failover refused: {refused}; nothing was changed")
    ctx.emit(OutputLine(KIND, old, f"{old} is down: " + "; ".join(
        f"{k} {v}" for k, v in ev.down.items()) + f" ({time.monotonic() - noticed:.1f} s)"))
    positions: dict[str, GtidPosition] = {}
    received: dict[str, GtidPosition] = {}
    for r in replicas:
        try:
            positions[r], got = await applied_position(ctx, r)
            received[r] = parse_position(got, source=f"{r}'s Gtid_IO_Pos")
        except OperatorError as exc:
            ctx.emit(OutputLine(KIND, r, f"left out of the choice: {ctx.secrets.mask(str(exc))}"))
    choice = failover_candidate(positions, to or ctx.inventory.migration.preferred_primary)
    name = choice.name
    for candidate in choice.candidates if name is None and choice.tie else ():
        # Equally advanced: any one loses nothing, so the operator's yes picks it.
        if await ctx.confirm(f"{choice.reason} Promote {candidate}?", False):
            name = candidate
            break
    if name is None:
        raise OperationRefused(f"failover: {choice.reason} Run `moodle-wizard failover --to "
                               f"HOST` with one of {', '.join(choice.candidates)}; nothing "
                               "was changed")
    ctx.emit(OutputLine(KIND, name, choice.reason if choice.name else
                        f"{name}: chosen by the operator among {', '.join(choice.candidates)}"))
    facts = OperationFacts(positions={r: str(p) for r, p in positions.items()},
                           confirmed_down_by=sorted(ev.down))
    if received:
        # What the old primary had at least: the furthest position any replica received.
        last = received[most_advanced(received).names[0]]
        facts.last_known, facts.last_known_from = str(last), "the replicas' received positions"
        facts.lost = lost_transactions(last, positions[name]).text()
    return name, facts


async def run_failover(ctx: Context, to: str | None) -> OperationReport:
    require_migrated(ctx, KIND)
    op = ctx.state.cluster.operation
    if op is not None and op.kind == KIND and to in (None, op.target):
        ctx.emit(OutputLine(KIND, op.target, f"continuing the failover to {op.target}"))
    else:
        if op is not None:
            begin(ctx, KIND, to or "", "")  # refuses, naming the one in flight
        topo = topology(ctx.inventory, ctx.state.cluster)
        name, facts = await _choose(ctx, topo, to)
        if not await ctx.confirm(f"fail over: {topo.primary} is down; fence it (out of "
                                 f"ProxySQL until `rejoin`) and promote {name}?", False):
            raise OperationRefused("failover: declined; nothing was changed")
        op = begin(ctx, KIND, name, topo.primary)
        op.facts = facts
        ctx.save()
    fo = Failover(ctx, op)
    seconds = await run(ctx, op, fo.plan())
    return OperationReport(KIND, fo.old, fo.target, seconds, [
        f"{fo.target} is the primary; {', '.join(fo.after().replicas) or 'no replica'} "
        "replicate from it",
        f"{fo.old} is fenced (OFFLINE_HARD in ProxySQL, read-only in its files)",
        *op.facts.lost,
        f"when {fo.old} is back: `moodle-wizard rejoin {fo.old}` (it checks for writes only "
        "it has)"])
