"""What discovery asks the source, as statements and commands: the ones `Discover._source`
sends and the ones its runbook shows are these same objects.

Which statements a server takes depends on its flavour and version, which only the login
tells. The runbook of a discovery that has run shows that server's own statements; before
that, the flavour-dependent ones are described for both flavours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from moodle_wizard.core.backups import reach
from moodle_wizard.core.command import Shell, Sql, quote
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.statement import Statement

if TYPE_CHECKING:
    from moodle_wizard.core.inventory import Inventory

SETTINGS = Statement(
    "SELECT @@datadir AS datadir, @@server_id AS server_id, @@log_bin AS log_bin, "
    "@@GLOBAL.binlog_format AS binlog_format, @@port AS port, @@read_only AS read_only, "
    "@@hostname AS hostname, VERSION() AS server_version, @@bind_address AS bind_address")
MARIADB_GTID = Statement("SELECT @@gtid_binlog_pos AS b, @@gtid_current_pos AS c, "
                         "@@gtid_domain_id AS d, @@log_slave_updates AS u")
MYSQL_GTID = Statement("SELECT @@gtid_mode AS m, @@enforce_gtid_consistency AS e, "
                       "@@gtid_executed AS x, @@log_replica_updates AS u")
PRIVILEGES = Statement("SELECT privilege_type AS p, is_grantable AS g "
                       "FROM information_schema.user_privileges")
BASENAME = Statement("SELECT @@log_bin_basename AS b")
PROCESS_PRIVILEGE = Statement("SELECT 1 FROM information_schema.user_privileges "
                              "WHERE privilege_type = 'PROCESS'")
DUMP_THREADS = Statement(
    "SELECT id AS i, user AS u, host AS h, command AS c FROM "
    "information_schema.processlist WHERE command IN ('Binlog Dump', 'Binlog Dump GTID')")
CURRENT_USER = Statement("SELECT CURRENT_USER() AS u")


def tables(dbname: str) -> Statement:
    return Statement("SELECT table_name AS t, engine AS e FROM information_schema.tables "
                     "WHERE table_schema = %s AND table_type = 'BASE TABLE'", (dbname,))


def gtid(dialect: Dialect) -> Statement:
    return MARIADB_GTID if dialect.version.is_mariadb else MYSQL_GTID


def retention(dialect: Dialect) -> Statement:
    return Statement(dialect.binlog_retention_sql())


def free_bytes_script(path: str) -> str:
    """The free space of the filesystem that holds path (or its nearest existing parent)."""
    return (f"p={quote(path)}; while [ ! -e \"$p\" ]; do p=$(dirname \"$p\"); done; "
            "df -P -B1 \"$p\" | awk 'NR==2 {print $4}'")


@dataclass(frozen=True)
class SourceReads:
    """Everything discovery asks the source, in the order it asks (CURRENT_USER only to
    name the account in an error)."""

    source: str
    dialect: Dialect | None
    dbname: str
    datadir: str

    def statements(self) -> list[Statement]:
        if self.dialect is None:
            raise ValueError("the source's statements need its version")
        d = self.dialect
        return [SETTINGS, gtid(d), PRIVILEGES, BASENAME, retention(d), PROCESS_PRIVILEGE,
                d.show_replica_hosts(), DUMP_THREADS, tables(self.dbname)]

    def disk(self) -> list[Shell]:
        return [Shell(self.source, ("du", "-sb", self.datadir)),
                Shell.sh(self.source, free_bytes_script(self.datadir))]

    def runbook(self) -> list[str]:
        if self.dialect is not None:
            return [*(Sql(self.source, s).render() for s in self.statements()),
                    *(c.render() for c in self.disk())]
        on = f"on {self.source}: "
        return [
            Sql(self.source, SETTINGS).render(),
            on + "its GTID state, MariaDB: " + MARIADB_GTID.sql + "; MySQL: " + MYSQL_GTID.sql,
            Sql(self.source, PRIVILEGES).render(),
            Sql(self.source, BASENAME).render(),
            on + "its binary log retention (@@binlog_expire_logs_seconds or "
                 "@@expire_logs_days, as its version has them)",
            Sql(self.source, PROCESS_PRIVILEGE).render(),
            on + "SHOW SLAVE HOSTS (MySQL 8.0.22 and later: SHOW REPLICAS)",
            Sql(self.source, DUMP_THREADS).render(),
            Sql(self.source, tables(self.dbname)).render(),
            *(c.render() for c in self.disk()),
        ]



def backup_runbook(inv: Inventory) -> list[str]:
    """What discovery reads of an existing backup (backup_method = "existing"), and of the
    source's binary logs to tell whether they reach back to it. All of it only looks."""
    if inv.backup is None or inv.migration.backup_method.value != "existing":
        return []
    host, path, src = inv.backup.host, inv.backup.path, inv.source
    return [
        f"on {host}: date; stat -L -- {quote(path)}; then, as it is: ls -A1 / find -maxdepth 2 "
        "(a directory of backups: the newest), cat xtrabackup_checkpoints, *_binlog_info, "
        "*_info, du -sb (a mariadb-backup directory); od -N 8, head -c 64K, decompressed if "
        "it is gzip/zstd/xz/bzip2 (a file); tail -c 1K (an SQL dump); a read-only perl "
        "parser that prints the small members of an xbstream file (nothing is unpacked)",
        Sql(src, reach.LOG_BIN).render(),
        Sql(src, reach.SHOW_BINARY_LOGS).render(),
        f"on {src}: SHOW BINLOG EVENTS IN '<the first binary log>' LIMIT 3 (its Gtid_list); "
        "SELECT BINLOG_GTID_POS(file, pos) for a dump that names only a binlog position",
    ]
