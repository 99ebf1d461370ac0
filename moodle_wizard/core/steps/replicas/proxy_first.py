"""The replicas step's part in the proxy-first order (core/steps/order.py): the source's
restart comes first, behind ProxySQL (its requests wait instead of failing), and once the
replicas replicate, every proxy node sends reads to them. Rollback takes them out of
ProxySQL first, while they still answer."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from moodle_wizard.core.command import Command, render_all, run_all
from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.events import OutputLine
from moodle_wizard.core.operate import commands as opcmd
from moodle_wizard.core.operate.reads import proxy_servers
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.state import MigrationOrder, StepStatus
from moodle_wizard.core.steps.base import Action
from moodle_wizard.core.steps.prepare_source import PrepareSource

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["before", "readers", "readers_online", "readers_out", "restart_then_back"]

#: How often the wizard asks whether the restarted source answers.
WATCH_INTERVAL_S = 0.1

#: How long the step's verify waits for every proxy node to show the replicas ONLINE: the
#: monitor revives a lag-shunned replica at its next lag check (ProxySQL's
#: mysql-monitor_replication_lag_interval, 10 s by default), a few of them at most.
READERS_TIMEOUT_S = 60.0


def _proxy_first(ctx: Context) -> bool:
    # The order alone, not whether the proxysql step is done yet: the runbook, written before
    # the run, shows the readers' commands too (in this order the step runs after proxysql).
    return ctx.state.order == MigrationOrder.PROXY_FIRST


def before(ctx: Context) -> list[Action]:
    """The source's restart, when the migration deferred it to here. While it runs, the wizard
    watches for the new server and then writes ProxySQL's servers again on every node: the
    writer ProxySQL shunned while it was down serves at once (MySQL_HostGroups_Manager::commit
    sets the configured status), where ProxySQL alone would wait until a whole second more
    than shun_recovery's minimum had passed since its last failed connect (MyHGC.cpp
    get_random_MySrvC): Moodle's requests, held meanwhile, wait 1-2 s less."""
    prepare = PrepareSource(ctx)
    if not (_proxy_first(ctx) and prepare.restart_needed()):
        return []
    back = [c for px in ctx.inventory.proxies for c in _servers(ctx, px, [])]
    action = prepare.restart_action()
    runbook = [action.runbook[0],
               f"meanwhile, once {ctx.inventory.source} answers again (a new server: asked "
               f"every {WATCH_INTERVAL_S:g} s), on every proxy node:", *render_all(back),
               *action.runbook[1:]]
    return [replace(action, run=partial(restart_then_back, prepare, back), runbook=runbook)]


async def restart_then_back(prepare: PrepareSource, back: list[Command]) -> None:
    """The source's restart, and `back` as soon as the restarted server answers (or the
    restart has finished, whichever is first). `back` failing costs Moodle only ProxySQL's
    own 1-2 s: it is said, and the restart's outcome decides the action's."""
    ctx, src = prepare.ctx, prepare.ctx.inventory.source
    began = time.monotonic()
    restarting = asyncio.ensure_future(prepare.restart())

    async def restarted() -> bool | None:
        if restarting.done():
            return True
        try:
            db = await ctx.connect_db(src)
            try:
                [row] = await db.query("SHOW GLOBAL STATUS LIKE 'Uptime'")
            finally:
                await db.close()
        except Exception:  # down, or not accepting connections yet: ask again
            return None
        # Uptime in whole seconds: the old server has been up since before the restart.
        return True if int(row["Value"]) <= time.monotonic() - began else None

    try:
        await poll_until(restarted, timeout_s=None, interval_s=WATCH_INTERVAL_S,
                         what=f"{src}'s restart")
        if not restarting.done() or restarting.exception() is None:
            try:
                await run_all(ctx, back)
            except OperatorError as exc:
                ctx.emit(OutputLine(prepare.name, src, (
                    f"could not write ProxySQL's servers right after the restart ({exc}); "
                    "ProxySQL brings the source back itself within 2 s")))
    except BaseException:
        restarting.cancel()
        raise
    await restarting


def _servers(ctx: Context, px: str, replicas: list[str]) -> list[Command]:
    """Both hostgroups as they are once `replicas` serve reads. The read-only user stays
    routed to the readers throughout: the source is a low-weight reader too (render/proxysql.py
    server_rows), so it takes Moodle's safe reads while there are no replicas."""
    inv, cfg = ctx.inventory, ctx.inventory.proxysql
    port = int(ctx.discovered.source.port)
    want = opcmd.Layout(cfg.writer_hostgroup, cfg.reader_hostgroup, port,
                        inv.hosts[inv.source].address,
                        tuple(inv.hosts[r].address for r in replicas),
                        max_replication_lag=cfg.max_replication_lag,
                        use_ssl=inv.migration.tls)
    return list(opcmd.layout(px, want))


def readers(ctx: Context) -> list[Action]:
    """On every proxy node, the replicas in the reader hostgroup (proxy-first only: in the
    classic order the proxysql step, which comes later, puts them there)."""
    if not _proxy_first(ctx):
        return []
    replicas = list(ctx.inventory.replicas)
    out = []
    for px in ctx.inventory.proxies:
        commands = _servers(ctx, px, replicas)
        out.append(Action(f"readers:{px}", f"ProxySQL on {px}: {', '.join(replicas)} serve "
                          "reads", partial(run_all, ctx, commands), render_all(commands),
                          host=px))
    return out


def readers_out(ctx: Context, journaled: bool) -> list[Action]:
    """Rollback: the replicas out of ProxySQL again, before they stop (`journaled`: the
    readers actions ran)."""
    if not journaled or ctx.state.steps.proxysql.status in (StepStatus.PENDING,
                                                            StepStatus.ROLLED_BACK):
        return []
    out = []
    for px in ctx.inventory.proxies:
        commands = _servers(ctx, px, [])
        out.append(Action(f"readers:{px}", f"ProxySQL on {px}: no replica serves reads "
                          f"({ctx.inventory.source} takes them)",
                          partial(run_all, ctx, commands), render_all(commands), host=px))
    return out


async def readers_online(ctx: Context) -> None:
    """Verify, proxy-first only: every proxy node has every replica ONLINE among its readers.

    The consistency checks stop replication for a moment (START SLAVE UNTIL), and ProxySQL's
    monitor takes a replica whose lag reads NULL out of the readers until a later check
    (render/proxysql.py slave_lag_when_null); the step is done once reads reach the replicas
    again, so the dashboard's first health check after it is green."""
    if not _proxy_first(ctx):
        return
    inv = ctx.inventory
    hostgroup = inv.proxysql.reader_hostgroup
    addresses = {inv.hosts[r].address: r for r in inv.replicas}
    missing: dict[str, list[str]] = {}

    async def online() -> bool | None:
        missing.clear()
        for px in inv.proxies:
            servers = await proxy_servers(ctx, px)
            for address, name in addresses.items():
                statuses = {s.status for s in servers
                            if s.hostgroup == hostgroup and s.hostname == address}
                if statuses != {"ONLINE"}:
                    seen = ", ".join(sorted(statuses)) or "absent"
                    missing.setdefault(px, []).append(f"{name} {seen}")
        return True if not missing else None

    def late() -> str:
        where = "; ".join(f"{px}: {', '.join(names)}" for px, names in missing.items())
        return (f"the replicas are not ONLINE among ProxySQL's readers (hostgroup {hostgroup}) "
                f"after {READERS_TIMEOUT_S:.0f} s ({where}): check their replication lag "
                "against [proxysql] max_replication_lag, and that the monitor user can log in "
                "to them")

    await poll_until(online, timeout_s=READERS_TIMEOUT_S, interval_s=0.5, what=late)
