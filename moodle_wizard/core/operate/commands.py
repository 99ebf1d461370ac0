"""The commands of the operations after the migration, as values that both run and render
(core/command.py): ProxySQL admin statements on each proxy node, the SQL that promotes a
replica or points one at a new primary, and the role file that keeps a server's read_only
across restarts.

The role file: a replica's own option file (the replicas step's 90-moodle-wizard.cnf) says
read_only = ON and the source's says nothing, so without a file of their own a promoted
replica would restart read-only (no writer: Moodle down) and a demoted old primary would
restart writable (two writers behind ProxySQL). The wizard writes its role file,
91-moodle-wizard-role.cnf (read after 90), only where a server's role differs from the one
the migration gave it, and removes it where it is back to that role; it never removes a
file there that it did not write.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from moodle_wizard.core.command import Secret, Shell, Sql, WithSecret, WriteFile, placeholder
from moodle_wizard.core.render.mycnf import server_cnf_path
from moodle_wizard.core.render.proxysql import server_rows, servers_statements
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.sql.version import ServerVersion
from moodle_wizard.core.tls import ssl_change_source

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["ROLE_CNF_MARK", "ROLE_CNF_NAME", "AdminSql", "Layout", "fence", "hold_writer",
           "layout", "promote", "read_only", "release_writer", "remove_role_file",
           "repoint", "role_cnf", "role_cnf_path", "write_role_file"]

ROLE_CNF_NAME = "91-moodle-wizard-role.cnf"
ROLE_CNF_MARK = "# Managed by moodle-wizard: the role of this server after a failover or switchover"


@dataclass(frozen=True)
class AdminSql:
    """One statement on ProxySQL's admin interface of proxy node `host` (127.0.0.1 there,
    through SSH), with the wizard's admin credentials."""

    host: str
    statement: Statement
    note: str = ""

    def render(self) -> str:
        note = f"  # {self.note}" if self.note else ""
        return f"on {self.host}, ProxySQL admin: {self.statement.display()}{note}"

    async def run(self, ctx: Context) -> object:
        from moodle_wizard.core.steps.proxysql_admin import wizard_admin

        admin = await wizard_admin(ctx, self.host)
        return await admin.run(self.statement)


_LOAD = Statement("LOAD MYSQL SERVERS TO RUNTIME")
_SAVE = Statement("SAVE MYSQL SERVERS TO DISK")


def hold_writer(px: str, writer_hg: int, address: str) -> list[AdminSql]:
    """Take the primary out of the writer hostgroup softly: its running transactions finish,
    new queries for the writer hostgroup wait (up to mysql-connect_timeout_server_max) for a
    writer to be ONLINE again instead of failing on a read-only server. Not saved to disk: a
    ProxySQL restarted meanwhile comes back with the primary ONLINE, as before."""
    return [AdminSql(px, Statement("UPDATE mysql_servers SET status = 'OFFLINE_SOFT' WHERE "
                                   "hostgroup_id = %s AND hostname = %s", (writer_hg, address))),
            AdminSql(px, _LOAD)]


def release_writer(px: str, writer_hg: int, address: str) -> list[AdminSql]:
    """Undo hold_writer: the primary ONLINE again in the writer hostgroup."""
    return [AdminSql(px, Statement("UPDATE mysql_servers SET status = 'ONLINE' WHERE "
                                   "hostgroup_id = %s AND hostname = %s", (writer_hg, address))),
            AdminSql(px, _LOAD)]


def fence(px: str, address: str) -> list[AdminSql]:
    """Take a failed primary out of every hostgroup for good (OFFLINE_HARD: no traffic, and
    ProxySQL's monitor does not bring it back by read_only), on disk too."""
    return [AdminSql(px, Statement("UPDATE mysql_servers SET status = 'OFFLINE_HARD' WHERE "
                                   "hostname = %s", (address,))),
            AdminSql(px, _LOAD), AdminSql(px, _SAVE)]


@dataclass(frozen=True)
class Layout:
    """Where every database server sits in ProxySQL."""

    writer_hg: int
    reader_hg: int
    port: int
    primary: str  # address
    readers: tuple[str, ...]  # addresses
    fenced: tuple[str, ...] = ()  # addresses: in the reader hostgroup, OFFLINE_HARD
    max_replication_lag: int = 0
    use_ssl: bool = False  # migration.tls


def layout(px: str, want: Layout) -> list[AdminSql]:
    """The servers of both hostgroups replaced by `want`, loaded and saved: the primary the
    only writer and the readers' low-weight fallback, the replicas readers, a fenced server
    kept visible but OFFLINE_HARD (render/proxysql.py server_rows: the same rows the proxysql
    step writes, so after a switchover the new primary has the fallback row and the old one a
    replica's)."""
    rows = server_rows(want.writer_hg, want.reader_hg, want.port, want.primary, want.readers,
                       want.max_replication_lag, want.fenced)
    return [*(AdminSql(px, s) for s in servers_statements(want.writer_hg, want.reader_hg, rows,
                                                          want.use_ssl)),
            AdminSql(px, _LOAD), AdminSql(px, _SAVE)]


def read_only(host: str, on: bool) -> Sql:
    return Sql(host, Statement(f"SET GLOBAL read_only = {'ON' if on else 'OFF'}"))


def promote(host: str, d: Dialect) -> list[Sql]:
    """A replica becomes a primary: replication stopped and forgotten, then writable."""
    return [Sql(host, d.stop_replica()), Sql(host, d.reset_replica_all()),
            read_only(host, False)]


def repoint(host: str, d: Dialect, primary_address: str, port: int, user: str, *,
            own_history: str | None = None, tls: bool = False) -> list[Sql | WithSecret]:
    """Point `host` at the new primary by GTID and start replicating.

    `own_history`: for a server that was a primary (its writes are in its binary log, not in
    its gtid_slave_pos), the position to continue from: its @@gtid_binlog_pos, read when it
    runs (a placeholder in a plan)."""
    out: list[Sql | WithSecret] = [Sql(host, d.stop_replica())]
    if own_history is not None:
        out += [Sql(host, s) for s in d.set_gtid_position(own_history)]

    def change(password: str) -> Sql:
        return Sql(host, d.change_source(primary_address, port, user, password))

    # With migration.tls the replication user requires TLS (a former primary has none set).
    ssl = [Sql(host, ssl_change_source(d.version))] if tls else []
    return [*out, WithSecret(Secret("replication_password"), change), *ssl,
            Sql(host, d.start_replica())]


HISTORY_PLACEHOLDER = placeholder("its gtid_binlog_pos")


def role_cnf_path(version: ServerVersion) -> str:
    return posixpath.join(posixpath.dirname(server_cnf_path(version)), ROLE_CNF_NAME)


def role_cnf(writable: bool) -> str:
    state = "primary: writable" if writable else "replica: read-only"
    return (f"{ROLE_CNF_MARK}\n# This server is a {state}. Read after 90-moodle-wizard.cnf, "
            "so it wins.\n[mysqld]\n" f"read_only = {'OFF' if writable else 'ON'}\n")


def write_role_file(host: str, version: ServerVersion, writable: bool) -> WriteFile:
    return WriteFile(host, role_cnf_path(version), role_cnf(writable), 0o644)


def remove_role_file(host: str, version: ServerVersion) -> Shell:
    """Remove the role file, only if it is the wizard's (it carries the mark)."""
    path = shlex.quote(role_cnf_path(version))
    refusal = shlex.quote(f"{role_cnf_path(version)} is not the file moodle-wizard writes: "
                          "left as it is; remove or fix it by hand")
    script = (f"if [ -e {path} ] && ! grep -qxF {shlex.quote(ROLE_CNF_MARK)} {path}; then "
              f"echo {refusal} >&2; exit 1; fi; rm -f {path}")
    return Shell.sh(host, script, note="only the wizard's own file")


def role_file_commands(host: str, version: ServerVersion, writable: bool,
                       migration_writable: bool) -> Sequence[Shell | WriteFile]:
    """The role file as `host`'s role now needs it: absent when it is the role the migration
    gave the host (its own option files say so), else the file."""
    if writable == migration_writable:
        return [remove_role_file(host, version)]
    return [write_role_file(host, version, writable)]
