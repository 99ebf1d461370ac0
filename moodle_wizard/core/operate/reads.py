"""What the operations read from the servers and the proxies, one query each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.parsers import ReplicaStatus, normalize_replica_status
from moodle_wizard.core.steps.base import source_version

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context
    from moodle_wizard.core.remote.mysql import Database
    from moodle_wizard.core.steps.proxysql_verify import RuntimeServer


@dataclass(frozen=True)
class ServerView:
    """One database server as an operation needs it."""

    name: str
    read_only: bool
    binlog_pos: str  # @@gtid_binlog_pos
    binlog_state: str  # @@gtid_binlog_state
    slave_pos: str  # @@gtid_slave_pos
    log_bin: bool
    log_slave_updates: bool
    server_id: int
    replica: ReplicaStatus | None


def dialect(ctx: Context) -> Dialect:
    """Every server of the cluster runs the source's major version (the replicas step
    installs it so)."""
    return Dialect(source_version(ctx.discovered.source))


def address(ctx: Context, name: str) -> str:
    return ctx.inventory.hosts[name].address


def port(ctx: Context) -> int:
    # One port names every database server (replicas listen on the source's).
    return int(ctx.discovered.source.port)


async def server_view(ctx: Context, name: str) -> ServerView:
    db = await ctx.db(name)
    row = await db.one("SELECT @@global.read_only AS ro, @@global.gtid_binlog_pos AS bp, "
                       "@@global.gtid_binlog_state AS bs, @@global.gtid_slave_pos AS sp, "
                       "@@global.log_bin AS lb, @@global.log_slave_updates AS lsu, "
                       "@@global.server_id AS sid")
    status = await replica_status(db, dialect(ctx))
    return ServerView(name, bool(int(row["ro"])), str(row["bp"] or ""), str(row["bs"] or ""),
                      str(row["sp"] or ""), bool(int(row["lb"])), bool(int(row["lsu"])),
                      int(row["sid"]), status)


async def replica_status(db: Database, d: Dialect) -> ReplicaStatus | None:
    rows = await db.run(d.show_replica_status())
    return normalize_replica_status(rows[0] if rows else None)


async def proxy_servers(ctx: Context, px: str) -> tuple[RuntimeServer, ...]:
    from moodle_wizard.core.steps.proxysql_admin import wizard_admin
    from moodle_wizard.core.steps.proxysql_verify import runtime_servers

    return await runtime_servers(await wizard_admin(ctx, px))


def status_of(servers: Sequence[RuntimeServer], hostgroup: int | None, addr: str) -> set[str]:
    """The statuses `addr` has in `hostgroup` (any hostgroup: None) at runtime."""
    return {s.status for s in servers
            if s.hostname == addr and (hostgroup is None or s.hostgroup == hostgroup)}


async def conn_used(ctx: Context, px: str, hostgroup: int, addr: str) -> int:
    """Backend connections in use to `addr` in `hostgroup` (stats_mysql_connection_pool)."""
    from moodle_wizard.core.steps.proxysql_admin import wizard_admin

    admin = await wizard_admin(ctx, px)
    rows = await admin.query("SELECT ConnUsed AS used FROM stats_mysql_connection_pool WHERE "
                             "hostgroup = %s AND srv_host = %s", (hostgroup, addr))
    return sum(int(r["used"]) for r in rows)
