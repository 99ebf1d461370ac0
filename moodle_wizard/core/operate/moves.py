"""The moves switchover, failover and rejoin share, each an action that runs its commands
(the runbook shows exactly those) and knows how to tell that its effect is already there
(an action found in flight after a crash is checked, not blindly redone)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from moodle_wizard.core.command import Command, render_all, run_all
from moodle_wizard.core.errors import StepError
from moodle_wizard.core.events import OutputLine
from moodle_wizard.core.operate import commands as cmd
from moodle_wizard.core.operate.reads import (
    address,
    dialect,
    port,
    proxy_servers,
    replica_status,
    status_of,
)
from moodle_wizard.core.operate.topology import Topology
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.remote.client import ClientLoginFailed, ServerIdentity, client_check
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.steps.base import Action, source_version
from moodle_wizard.core.steps.prepare_source_commands import create_account

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

REPLICATING_TIMEOUT_S = 30.0
WRITE_TIMEOUT_S = 20.0


def action(ctx: Context, id: str, title: str, commands: Sequence[Command], *,
           notes: Sequence[str] = (), done: Callable[[], Awaitable[bool]] | None = None,
           after: Callable[[], Awaitable[None]] | None = None, host: str = "") -> Action:
    """An action that runs exactly `commands` (then `after`, which only reads or records)."""

    async def run() -> None:
        await run_all(ctx, commands)
        if after is not None:
            await after()

    return Action(id, title, run, [*notes, *render_all(commands)], done=done, host=host)


def migration_writable(ctx: Context, name: str) -> bool:
    """The role the migration gave `name`: the source writable, a replica read-only."""
    return name == ctx.inventory.source


def role_file(ctx: Context, name: str, writable: bool) -> Sequence[Command]:
    return cmd.role_file_commands(name, source_version(ctx.discovered.source), writable,
                                  migration_writable(ctx, name))


async def read_only_is(ctx: Context, name: str, want: bool) -> bool:
    db = await ctx.db(name)
    return bool(int(await db.variable("read_only"))) == want


def replication_accounts(ctx: Context, primary: str, members: Sequence[str]) -> Action:
    """The replication user for every database server's address, on the primary (from where
    it replicates to all): after a switchover the old primary replicates too."""
    d, user = dialect(ctx), ctx.inventory.migration.replication_user
    commands = [c for m in members for c in create_account(
        primary, d, user, address(ctx, m), "replication_password",
        d.grant_replication(user, address(ctx, m)))]
    return action(ctx, "accounts", f"The replication user {user} for every server's address, "
                  f"on {primary}", commands, host=primary)


def promote(ctx: Context, target: str, on_done: Callable[[], None]) -> Action:
    """`target` stops replicating, forgets its source, becomes writable (also after a
    restart: the role file); `on_done` records it as the primary."""
    commands = [*cmd.promote(target, dialect(ctx)), *role_file(ctx, target, True)]

    async def recorded() -> None:
        on_done()
        ctx.save()

    async def done() -> bool:
        db = await ctx.db(target)
        promoted = (await read_only_is(ctx, target, False)
                    and await replica_status(db, dialect(ctx)) is None)
        if promoted:
            await recorded()
        return promoted

    return action(ctx, "promote", f"Promote {target}: stop its replication, make it writable",
                  commands, done=done, after=recorded, host=target)


def layout_for(ctx: Context, topo: Topology) -> cmd.Layout:
    px = ctx.inventory.proxysql
    return cmd.Layout(px.writer_hostgroup, px.reader_hostgroup, port(ctx),
                      address(ctx, topo.primary),
                      tuple(address(ctx, r) for r in topo.replicas),
                      tuple(address(ctx, f) for f in topo.fenced), px.max_replication_lag,
                      ctx.inventory.migration.tls)


async def writer_is(ctx: Context, px: str, primary: str) -> bool:
    servers = await proxy_servers(ctx, px)
    return status_of(servers, ctx.inventory.proxysql.writer_hostgroup,
                     address(ctx, primary)) == {"ONLINE"}


def proxies_layout(ctx: Context, topo: Topology) -> list[Action]:
    """On every proxy node: the servers as `topo` has them, loaded and saved."""
    want = layout_for(ctx, topo)
    return [action(ctx, f"servers:{px}", f"ProxySQL on {px}: {topo.primary} the writer, "
                   f"{', '.join(topo.replicas) or 'no'} readers"
                   f"{', ' + ', '.join(topo.fenced) + ' fenced' if topo.fenced else ''}",
                   cmd.layout(px, want), done=partial(writer_is, ctx, px, topo.primary),
                   host=px)
            for px in ctx.inventory.proxies]


def repoint(ctx: Context, name: str, primary: str, *, was_primary: bool) -> Action:
    """`name` replicates from `primary` by GTID; a server that was a primary continues from
    its own binary log's position (read when it runs)."""
    d, user = dialect(ctx), ctx.inventory.migration.replication_user

    def commands(history: str | None) -> list[Command]:
        return [*cmd.repoint(name, d, address(ctx, primary), port(ctx), user,
                             own_history=history, tls=ctx.inventory.migration.tls),
                *role_file(ctx, name, False)]

    planned = commands(cmd.HISTORY_PLACEHOLDER if was_primary else None)

    async def run() -> None:
        history = None
        if was_primary:
            db = await ctx.db(name)
            history = str(await db.variable("gtid_binlog_pos"))
        await run_all(ctx, commands(history))
        await replicating(ctx, name, primary)

    async def done() -> bool:
        status = await replica_status(await ctx.db(name), d)
        return (status is not None and status.source_host == address(ctx, primary)
                and status.healthy)

    notes = ["then: wait until both replication threads run"]
    return Action(f"repoint:{name}", f"{name} replicates from {primary}", run,
                  [*render_all(planned), *notes], done=done, host=name)


async def replicating(ctx: Context, name: str, primary: str) -> None:
    """Until `name`'s IO and SQL threads both run against `primary` (an error ends it)."""
    d = dialect(ctx)
    seen: list[str] = ["no status yet"]

    async def running() -> bool | None:
        status = await replica_status(await ctx.db(name), d)
        if status is None:
            seen.append("not a replica")
            return None
        if status.last_sql_error:
            # An IO error may pass (the IO thread retries); an SQL thread's error stops it.
            raise StepError(f"{name} does not replicate from {primary}: "
                            f"{status.last_sql_error}")
        seen.append(f"IO {'running' if status.io_running else status.io_state or 'stopped'}, "
                    f"SQL {'running' if status.sql_running else 'stopped'}"
                    f"{': ' + status.last_io_error if status.last_io_error else ''}")
        return True if status.healthy else None

    await poll_until(running, timeout_s=REPLICATING_TIMEOUT_S, interval_s=0.2,
                     what=lambda: f"{name} does not replicate from {primary} "
                                  f"{REPLICATING_TIMEOUT_S:.0f} s after it was pointed there "
                                  f"({seen[-1]})")


async def moodle_writes_to(ctx: Context, primary: str) -> ServerIdentity:
    """Moodle's user, through the VIP from Moodle's app host, reaches `primary` and writes
    (a write statement that changes nothing; core/remote/client.py)."""
    inv = ctx.inventory
    assert inv.vip is not None
    moodle = ctx.discovered.moodle
    local = await ctx.forward(inv.apps[0], inv.vip.address, inv.proxysql.client_port)
    want = await (await ctx.db(primary)).variable("server_id")
    seen: list[str] = ["no login yet"]

    async def writes() -> ServerIdentity | None:
        try:
            who = await client_check(local, user=moodle.dbuser or "",
                                     password=await ctx.moodle_password(),
                                     database=moodle.dbname or "",
                                     write_table=f"{moodle.prefix}config", timeout=3)
        except ClientLoginFailed as exc:
            seen.append(str(exc))
            return None
        if who.server_id != int(want) or not who.wrote:
            seen.append(f"reached {who.hostname} (server_id {who.server_id}), "
                        f"{'wrote' if who.wrote else 'could not write'}")
            return None
        return who

    who = await poll_until(writes, timeout_s=WRITE_TIMEOUT_S, interval_s=0.2,
                           what=lambda: f"Moodle's user does not write to {primary} through "
                                        f"the VIP within {WRITE_TIMEOUT_S:.0f} s ({seen[-1]})")
    ctx.emit(OutputLine(ctx.current_step, inv.apps[0], f"Moodle's user writes through the VIP "
                        f"to {who.hostname} (server_id {who.server_id})"))
    return who


def verify_writes(ctx: Context, primary: str) -> Action:
    async def run() -> None:
        await moodle_writes_to(ctx, primary)

    vip = ctx.inventory.vip.address if ctx.inventory.vip else "the VIP"
    return Action("verify", f"Moodle writes through the VIP to {primary}", run,
                  [f"on {ctx.inventory.apps[0]}: log in as Moodle's user at {vip}:"
                   f"{ctx.inventory.proxysql.client_port}, check the server is {primary} and "
                   "that it takes a write"], host=ctx.inventory.apps[0])


async def wait_gtid(ctx: Context, name: str, position: str, timeout_s: float) -> bool:
    """Whether `name` applied everything up to `position` within `timeout_s`
    (MASTER_GTID_WAIT: 0 reached, -1 timed out)."""
    db = await ctx.db(name)
    started = time.monotonic()
    rows = await db.run(Statement("SELECT MASTER_GTID_WAIT(%s, %s) AS r",
                                  (position, int(timeout_s))))
    reached = int(rows[0]["r"]) == 0
    ctx.emit(OutputLine(ctx.current_step, name, f"applied up to {position}" if reached else
                        f"not at {position} after {time.monotonic() - started:.1f} s"))
    return reached
