"""The health of a migration's result, seen from outside: what the dashboard and
`moodle-wizard health` both show.

One item per thing that can be wrong on its own, following the cluster as it is now (the
journal's topology: after a switchover or failover the primary is not the inventory's
source): the primary (writable, not a replica), each serving replica's replication (threads,
lag, from the primary, read-only, its GTID position), an old primary a failover fenced, an
operation left in flight, each ProxySQL node's runtime servers and its monitor's last errors,
the nodes' config checksums compared, the VIP's holder (exactly one), Moodle's user through
the VIP, and after the cut-over Moodle's own config.php login on each app host. An item whose
step is not done is "not applicable yet": it is neither healthy nor unhealthy, and the verdict
counts only the applicable items. Nothing here changes a host or the journal. The verdicts
themselves are core/health_items.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial

from moodle_wizard.core.context import Context
from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.health_items import (
    GROUPS,
    MAX_LAG_S,
    MONITOR_WINDOW_S,
    HealthItem,
    HealthReport,
    MonitorEntry,
    ServerVars,
    checksums_item,
    config_login_item,
    failed,
    fenced_item,
    healthy,
    holder_item,
    monitor_item,
    not_yet,
    operation_item,
    passed,
    primary_item,
    replica_item,
    servers_item,
    verdict,
)
from moodle_wizard.core.moodle_config import read_moodle_config, register_config_secrets
from moodle_wizard.core.operate.topology import Topology, topology
from moodle_wizard.core.remote.proxysql import ProxySqlAdmin, ProxySqlError
from moodle_wizard.core.sql.parsers import ReplicaStatus, normalize_replica_status
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.state import StepName, StepStatus
from moodle_wizard.core.steps.proxysql import ProxySQLStep
from moodle_wizard.core.steps.proxysql_verify import (
    RuntimeServer,
    runtime_checksums,
    runtime_servers,
)
from moodle_wizard.core.steps.replicas.common import replica_port
from moodle_wizard.core.steps.vip import Vip
from moodle_wizard.core.steps.vip_login import vip_login

__all__ = ["LOGIN_TIMEOUT_S", "MAX_LAG_S", "HealthItem", "HealthReport", "check_health",
           "healthy", "prometheus_text", "verdict"]

# How long Moodle's login through the VIP may take (a VIP moving between nodes answers
# again within ~4 s on the lab).
LOGIN_TIMEOUT_S = 8.0

# MariaDB's own view of a server (support refuses MySQL sources).
SERVER_VARS = Statement("SELECT @@read_only AS read_only, @@gtid_slave_pos AS slave_pos, "
                        "@@gtid_binlog_pos AS binlog_pos")

# The monitor's logs as ProxySQL 2.x names them (proxysql.com/documentation/backend-
# monitoring): the check, the table, its error column. The admin interface is SQLite: the
# window is the node's own clock (time_start_us is microseconds since the epoch).
MONITOR_LOGS = (("connect", "mysql_server_connect_log", "connect_error"),
                ("ping", "mysql_server_ping_log", "ping_error"),
                ("read_only", "mysql_server_read_only_log", "error"))
_NOW_US = "CAST(strftime('%s', 'now') AS INTEGER) * 1000000"


def monitor_query(table: str, error: str, window_s: int = MONITOR_WINDOW_S) -> str:
    return (f"SELECT hostname, port, time_start_us, {error} AS error, {_NOW_US} AS now_us "
            f"FROM monitor.{table} WHERE time_start_us >= {_NOW_US} - {window_s * 1_000_000} "
            "ORDER BY time_start_us DESC LIMIT 1000")


async def monitor_entries(admin: ProxySqlAdmin) -> list[MonitorEntry]:
    """The monitor's checks of the last MONITOR_WINDOW_S on one node; a log table the node
    does not have (no ping log) is skipped."""
    entries = []
    for check, table, error in MONITOR_LOGS:
        try:
            rows = await admin.query(monitor_query(table, error))
        except ProxySqlError as exc:
            if "no such table" in str(exc).lower():
                continue
            raise
        entries += [MonitorEntry(check, str(r["hostname"]), int(r["port"]),
                                 int(r["time_start_us"]),
                                 None if r["error"] is None else str(r["error"]),
                                 int(r["now_us"])) for r in rows]
    return entries


async def proxy_servers(admin: ProxySqlAdmin) -> tuple[RuntimeServer, ...]:
    """runtime_mysql_servers, a lag-shunned server told apart: ProxySQL shows it there as
    SHUNNED, like one it cannot reach, and as SHUNNED_REPLICATION_LAG only in
    stats_mysql_connection_pool (SQL3_Connection_Pool), read here for that."""
    servers = await runtime_servers(admin)
    rows = await admin.query("SELECT hostgroup, srv_host, srv_port FROM "
                             "stats_mysql_connection_pool WHERE status = "
                             "'SHUNNED_REPLICATION_LAG'")
    lagging = {(int(r["hostgroup"]), str(r["srv_host"]), int(r["srv_port"])) for r in rows}
    return tuple(replace(s, status="SHUNNED_REPLICATION_LAG")
                 if s.status == "SHUNNED" and (s.hostgroup, s.hostname, s.port) in lagging
                 else s for s in servers)


# -- reading the hosts ----------------------------------------------------------------------


async def _guard(ctx: Context, group: str, name: str,
                 check: Callable[[], Awaitable[HealthItem]]) -> HealthItem:
    """A check that could not look is not ok: its error is the reason."""
    try:
        return await check()
    except OperatorError as exc:
        return failed(group, name, ctx.secrets.mask(str(exc)))


async def _server(ctx: Context, name: str) -> tuple[ReplicaStatus | None, ServerVars]:
    db = await ctx.db(name)
    rows = await db.run(db.dialect.show_replica_status())
    [row] = await db.run(SERVER_VARS)
    return normalize_replica_status(rows[0] if rows else None), ServerVars.from_row(row)


async def _replica(ctx: Context, topo: Topology, name: str, max_lag_s: int) -> HealthItem:
    status, seen = await _server(ctx, name)
    primary = (topo.primary, ctx.inventory.hosts[topo.primary].address)
    return replica_item(name, status, max_lag_s, seen=seen, primary=primary)


async def _primary(ctx: Context, name: str) -> HealthItem:
    return primary_item(name, *await _server(ctx, name))


async def _proxies(ctx: Context, topo: Topology) -> list[HealthItem]:
    inv, step = ctx.inventory, ProxySQLStep(ctx)
    names = {h.address: n for n, h in inv.hosts.items()}

    def addr(name: str) -> str:
        return inv.hosts[name].address

    writer = (inv.proxysql.writer_hostgroup, addr(topo.primary))
    # Readers once they serve (the proxy-first order configures ProxySQL before them).
    readers = [r for r in topo.replicas if r in step.serving_replicas() or r == inv.source]
    # The primary is a reader too: the fallback when no replica serves.
    expected = {writer} | {(inv.proxysql.reader_hostgroup, addr(r))
                           for r in (topo.primary, *readers)}
    # Each server on the port it listens on: the source's as discovered, the replicas' as
    # the replicas step set them up (whoever is the primary now).
    ports = {addr(m): int(step.src.port) if m == inv.source else replica_port(step.src)
             for m in topo.members}
    fenced = frozenset(addr(f) for f in topo.fenced)
    serving = {addr(m): m for m in (topo.primary, *readers)}

    async def node(px: str) -> tuple[list[HealthItem], dict[str, str] | str]:
        try:
            admin = await step.admin(px)
            servers = await proxy_servers(admin)
            sums = await runtime_checksums(admin)
            entries = await monitor_entries(admin)
        except OperatorError as exc:
            why = ctx.secrets.mask(str(exc))
            return [failed("proxysql", f"{px} servers", why),
                    failed("proxysql", f"{px} monitor", why)], why
        return [servers_item(px, servers, expected, names, ports, writer=writer,
                             fenced=fenced, max_lag_s=inv.proxysql.max_replication_lag),
                monitor_item(px, entries, serving, names)], sums

    seen = await asyncio.gather(*(node(px) for px in inv.proxies))
    sums = {px: s for px, (_, s) in zip(inv.proxies, seen, strict=True)}
    return [item for items, _ in seen for item in items] + [checksums_item(sums)]


async def _holder(ctx: Context) -> HealthItem:
    step = Vip(ctx)
    return holder_item(await step.holders(), step.vip.address)


async def _vip_login(ctx: Context) -> HealthItem:
    step = Vip(ctx)
    who = await vip_login(ctx, deadline=time.monotonic() + LOGIN_TIMEOUT_S)
    where = f"{step.vip.address}:{ctx.inventory.proxysql.client_port}"
    if who.read_only:
        return failed("vip", "Moodle's login", f"through {where} Moodle's user reached "
                      f"{who.hostname} (server_id {who.server_id}), a read-only server")
    return passed("vip", "Moodle's login", f"through {where} from {ctx.inventory.apps[0]}: "
                  f"reached {who.hostname} (server_id {who.server_id})")


async def _config_login(ctx: Context, app: str) -> HealthItem:
    vip = Vip(ctx).vip.address
    got = await read_moodle_config(await ctx.host(app), ctx.inventory.migration.moodle_config)
    register_config_secrets(got, ctx.secrets, app)  # masked in every detail from now on
    item = config_login_item(app, vip, got)
    return HealthItem(item.group, item.name, True, item.ok, ctx.secrets.mask(item.detail))


async def check_health(ctx: Context, *, max_lag_s: int = MAX_LAG_S) -> HealthReport:
    """Every health item of the migration in `ctx`, read-only, the checks at once."""
    start = time.monotonic()
    inv, cluster = ctx.inventory, ctx.state.cluster
    topo = topology(inv, cluster)

    def done(step: StepName) -> bool:
        return ctx.state.step(step).status == StepStatus.DONE

    checks: list[Awaitable[HealthItem | list[HealthItem]]] = []
    skipped: list[HealthItem] = []
    items: list[HealthItem] = []
    if cluster.operation is not None:
        items.append(operation_item(cluster.operation))
    items += [fenced_item(f, cluster.history) for f in topo.fenced]
    for name, check in ((f"{topo.primary} primary", partial(_primary, ctx, topo.primary)),
                        *((f"{r} replication", partial(_replica, ctx, topo, r, max_lag_s))
                          for r in topo.replicas)):
        if done(StepName.REPLICAS):
            checks.append(_guard(ctx, "replication", name, check))
        else:
            skipped.append(not_yet("replication", name, StepName.REPLICAS))
    if done(StepName.PROXYSQL):
        checks.append(_proxies(ctx, topo))
    else:
        skipped += [not_yet("proxysql", f"{px} {what}", StepName.PROXYSQL)
                    for px in inv.proxies for what in ("servers", "monitor")]
        skipped.append(not_yet("proxysql", "config checksums", StepName.PROXYSQL))
    for name, group, vip_check in (("VIP holder", "vip", _holder),
                                   ("Moodle's login", "vip", _vip_login)):
        if done(StepName.VIP):
            checks.append(_guard(ctx, group, name, partial(vip_check, ctx)))
        else:
            skipped.append(not_yet(group, name, StepName.VIP))
    for app in inv.apps:
        name = f"{app} config.php login"
        if done(StepName.CUTOVER):
            checks.append(_guard(ctx, "moodle", name, partial(_config_login, ctx, app)))
        else:
            skipped.append(not_yet("moodle", name, StepName.CUTOVER))
    for result in await asyncio.gather(*checks):
        items += result if isinstance(result, list) else [result]
    every = sorted([*items, *skipped], key=lambda i: GROUPS.index(i.group))
    return HealthReport(tuple(every), time.monotonic() - start, topo.primary, topo.fenced)


# -- Prometheus ---------------------------------------------------------------------------------


def _label(value: str) -> str:
    """A label value in Prometheus' text format (backslash, quote and newline escaped)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(report: HealthReport, migration: str) -> str:
    """The report in Prometheus' text exposition format, for node_exporter's textfile
    collector: one gauge per applicable item (not applicable items are left out: they are
    neither 1 nor 0), the verdict, how long the checks took, and who is the primary."""
    m = f'migration="{_label(migration)}"'
    lines = ["# HELP moodle_wizard_health_ok 1 when the health check passes, 0 when it fails.",
             "# TYPE moodle_wizard_health_ok gauge"]
    lines += [f'moodle_wizard_health_ok{{{m},group="{_label(i.group)}",'
              f'item="{_label(i.name)}"}} {int(bool(i.ok))}' for i in report.applicable]
    lines += ["# HELP moodle_wizard_healthy 1 when every applicable health check passes.",
              "# TYPE moodle_wizard_healthy gauge",
              f"moodle_wizard_healthy{{{m}}} {int(report.healthy)}",
              "# HELP moodle_wizard_health_seconds How long the health checks took.",
              "# TYPE moodle_wizard_health_seconds gauge",
              f"moodle_wizard_health_seconds{{{m}}} {report.seconds:.3f}"]
    if report.primary is not None:
        lines += ["# HELP moodle_wizard_primary_info The database primary the checks expect.",
                  "# TYPE moodle_wizard_primary_info gauge",
                  f'moodle_wizard_primary_info{{{m},host="{_label(report.primary)}"}} 1']
    return "\n".join(lines) + "\n"
