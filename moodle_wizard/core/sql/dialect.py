"""The one place that knows how MariaDB and MySQL differ: SQL text, tool names and options.

Everything here is pure: it returns SQL text (values as %s placeholders for the driver to
escape, never formatted in) and tool names. Which variant applies is decided from the server's
own version (`sql.version`, which lists the version boundaries used below).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from moodle_wizard.core.sql.quoting import native_password_hash, quote_identifier
from moodle_wizard.core.sql.statement import SqlParam, Statement
from moodle_wizard.core.sql.support import SUPPORTED
from moodle_wizard.core.sql.version import ServerVersion, UnsupportedServerError

__all__ = ["BackupTools", "Dialect", "DumpTool"]


@dataclass(frozen=True)
class BackupTools:
    """Physical backup and the matching stream extractor (xbstream format for both)."""

    backup: str
    extract: str


@dataclass(frozen=True)
class DumpTool:
    """Logical dump binary and the options that make its output seed a GTID replica."""

    binary: str
    options: tuple[str, ...]


class Dialect:
    """SQL text and tool names for one server version."""

    def __init__(self, version: ServerVersion) -> None:
        # What the statements below are written for. Which servers the wizard migrates is
        # `support`'s decision (it refuses MySQL sources, whose dialect is kept and tested).
        if version.is_mariadb and not version.at_least(10, 5):
            raise UnsupportedServerError(
                f"{version} is too old: moodle-wizard supports {SUPPORTED}")
        if not version.is_mariadb and not version.at_least(8, 0):
            raise UnsupportedServerError(f"{version} is too old: MySQL 8.0 or later needed")
        self.version = version

    @property
    def _mysql_replica_words(self) -> bool:
        return not self.version.is_mariadb and self.version.at_least(8, 0, 22)

    # -- replication control ---------------------------------------------------------------

    def show_replica_status(self) -> Statement:
        if self._mysql_replica_words:
            return Statement("SHOW REPLICA STATUS")
        return Statement("SHOW SLAVE STATUS")

    def start_replica(self) -> Statement:
        return Statement("START REPLICA" if self._mysql_replica_words else "START SLAVE")

    def stop_replica(self) -> Statement:
        return Statement("STOP REPLICA" if self._mysql_replica_words else "STOP SLAVE")

    def reset_replica_all(self) -> Statement:
        return Statement("RESET REPLICA ALL" if self._mysql_replica_words else "RESET SLAVE ALL")

    def change_source(self, host: str, port: int, user: str, password: str) -> Statement:
        """Point a replica at the source with GTID auto-positioning.

        MySQL gets GET_SOURCE_PUBLIC_KEY=1 so a caching_sha2_password replication user works
        without TLS (the replica fetches the source's RSA key for the password exchange).
        """
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not in 1..65535")
        params: tuple[SqlParam, ...] = (host, port, user, password)
        secret = frozenset({3})
        if self.version.is_mariadb:
            sql = (
                "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, "
                "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos"
            )
        elif self.version.at_least(8, 0, 23):
            sql = (
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST=%s, SOURCE_PORT=%s, SOURCE_USER=%s, "
                "SOURCE_PASSWORD=%s, SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1"
            )
        else:
            sql = (
                "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, "
                "MASTER_PASSWORD=%s, MASTER_AUTO_POSITION=1, GET_MASTER_PUBLIC_KEY=1"
            )
        return Statement(sql, params, secret)

    def set_gtid_position(self, gtid: str) -> list[Statement]:
        """Statements that make a freshly seeded replica start after `gtid`.

        MariaDB: the replica's gtid_slave_pos (replication must be stopped). MySQL: the
        executed-GTID history is wiped and replaced by the backup's set, which is how a
        replica learns what it already has.
        """
        if not gtid.strip():
            raise ValueError("empty GTID position")
        if self.version.is_mariadb:
            return [Statement("SET GLOBAL gtid_slave_pos = %s", (gtid,))]
        reset = "RESET BINARY LOGS AND GTIDS" if self.version.at_least(8, 2) else "RESET MASTER"
        return [Statement(reset), Statement("SET GLOBAL gtid_purged = %s", (gtid,))]

    def show_binlog_status(self) -> Statement:
        if not self.version.is_mariadb and self.version.at_least(8, 2):
            return Statement("SHOW BINARY LOG STATUS")
        return Statement("SHOW MASTER STATUS")

    def show_replica_hosts(self) -> Statement:
        """The replicas registered with this server (MySQL 8.4 knows only SHOW REPLICAS)."""
        return Statement("SHOW REPLICAS" if self._mysql_replica_words else "SHOW SLAVE HOSTS")

    def binlog_retention_sql(self) -> str:
        """Columns s (seconds), d (days) and p (automatic purge on), as the version has them;
        binlog_retention_seconds() reads the row."""
        v = self.version
        if v.is_mariadb:
            if v.at_least(10, 6, 1):
                return "SELECT @@binlog_expire_logs_seconds AS s, NULL AS d, 1 AS p"
            return "SELECT NULL AS s, @@expire_logs_days AS d, 1 AS p"
        purge = "@@binlog_expire_logs_auto_purge" if v.at_least(8, 0, 29) else "1"
        days = "NULL" if v.at_least(8, 4) else "@@expire_logs_days"
        return f"SELECT @@binlog_expire_logs_seconds AS s, {days} AS d, {purge} AS p"

    def disable_session_binlog(self) -> Statement:
        """For a logical import on a replica: without it, setting gtid_slave_pos afterwards
        fails (ERROR 1947) because the import wrote its own GTIDs."""
        return Statement("SET SESSION sql_log_bin = 0")

    def set_read_only(self, on: bool) -> list[Statement]:
        value = "ON" if on else "OFF"
        if self.version.is_mariadb:
            return [Statement(f"SET GLOBAL read_only = {value}")]
        # super_read_only=ON implies read_only=ON; turning off needs the reverse order.
        if on:
            return [Statement("SET GLOBAL super_read_only = ON")]
        return [
            Statement("SET GLOBAL super_read_only = OFF"),
            Statement("SET GLOBAL read_only = OFF"),
        ]

    # -- accounts ----------------------------------------------------------------------------

    def create_user(
        self, user: str, host: str, password: str, *, auth_plugin: str | None = None
    ) -> Statement:
        """CREATE USER IF NOT EXISTS; `auth_plugin` (MySQL) picks e.g. mysql_native_password."""
        if auth_plugin is None:
            if self.version.is_mariadb:
                # MariaDB writes the statement to the binary log as it was sent: with a
                # cleartext password there (and on every replica's log). The hash is what
                # mysql.user holds anyway. (MySQL rewrites the logged statement itself.)
                return Statement(
                    "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY PASSWORD %s",
                    (user, host, native_password_hash(password)),
                    frozenset({2}),
                )
            return Statement(
                "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                (user, host, password),
                frozenset({2}),
            )
        if not re.fullmatch(r"[a-z0-9_]+", auth_plugin):
            raise ValueError(f"invalid authentication plugin name {auth_plugin!r}")
        keyword = "VIA" if self.version.is_mariadb else "WITH"
        clause = "USING PASSWORD(%s)" if self.version.is_mariadb else "BY %s"
        return Statement(
            f"CREATE USER IF NOT EXISTS %s@%s IDENTIFIED {keyword} {auth_plugin} {clause}",
            (user, host, password),
            frozenset({2}),
        )

    def alter_user_password(self, user: str, host: str, password: str) -> Statement:
        """Re-apply the password: CREATE USER IF NOT EXISTS keeps an old one."""
        if self.version.is_mariadb:  # the hash, for the binary log's sake (see create_user)
            return Statement(
                "ALTER USER %s@%s IDENTIFIED BY PASSWORD %s",
                (user, host, native_password_hash(password)),
                frozenset({2}),
            )
        return Statement(
            "ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password), frozenset({2})
        )

    def drop_user(self, user: str, host: str) -> Statement:
        return Statement("DROP USER IF EXISTS %s@%s", (user, host))

    def replication_privilege(self) -> str:
        # MySQL (even 8.4) has no REPLICATION REPLICA privilege; MariaDB has it as an alias.
        if self.version.is_mariadb and self.version.at_least(10, 5, 1):
            return "REPLICATION REPLICA"
        return "REPLICATION SLAVE"

    def grant_replication(self, user: str, host: str) -> Statement:
        return Statement(f"GRANT {self.replication_privilege()} ON *.* TO %s@%s", (user, host))

    def monitor_privilege(self) -> str:
        """What ProxySQL's monitor user needs to read replica status and lag."""
        if not self.version.is_mariadb:
            return "REPLICATION CLIENT"
        if self.version.at_least(10, 5, 9):
            return "SLAVE MONITOR"
        return "REPLICATION SLAVE ADMIN"

    def grant_monitor(self, user: str, host: str) -> Statement:
        return Statement(f"GRANT {self.monitor_privilege()} ON *.* TO %s@%s", (user, host))

    def grant_select(self, database: str, user: str, host: str) -> Statement:
        """Read-only access to one schema (the optional Moodle read-only user)."""
        return Statement(f"GRANT SELECT ON {quote_identifier(database)}.* TO %s@%s", (user, host))

    def show_grants(self, user: str, host: str) -> Statement:
        return Statement("SHOW GRANTS FOR %s@%s", (user, host))

    def prepare_show_create_user(self) -> list[Statement]:
        """Session setting so SHOW CREATE USER prints a MySQL password hash as hex.

        A caching_sha2_password hash is binary; without this it comes back as raw bytes that
        the driver mangles, and the copied account could not log in.
        """
        if self.version.is_mariadb:
            return []
        return [Statement("SET SESSION print_identified_with_as_hex = ON")]

    def show_create_user(self, user: str, host: str) -> Statement:
        return Statement("SHOW CREATE USER %s@%s", (user, host))

    # -- tools -------------------------------------------------------------------------------

    def client_binary(self) -> str:
        return "mariadb" if self._modern_mariadb_names else "mysql"

    @property
    def _modern_mariadb_names(self) -> bool:
        return self.version.is_mariadb and self.version.at_least(10, 5, 2)

    def backup_tools(self) -> BackupTools:
        if self.version.is_mariadb:
            backup = "mariadb-backup" if self._modern_mariadb_names else "mariabackup"
            return BackupTools(backup=backup, extract="mbstream")
        return BackupTools(backup="xtrabackup", extract="xbstream")

    def dump_tool(self) -> DumpTool:
        """The dump binary and the options for a consistent, GTID-positioned dump.

        The position goes into the dump as a comment (=2) so importing it changes no
        replication settings by itself.
        """
        if self.version.is_mariadb:
            binary = "mariadb-dump" if self._modern_mariadb_names else "mysqldump"
            return DumpTool(binary, ("--single-transaction", "--master-data=2", "--gtid"))
        source_data = "--source-data=2" if self.version.at_least(8, 0, 26) else "--master-data=2"
        # ON (not AUTO) makes the dump fail loudly instead of silently omitting GTID_PURGED.
        return DumpTool("mysqldump", ("--single-transaction", source_data, "--set-gtid-purged=ON"))

    def binlog_info_filename(self) -> str:
        """The file a physical backup of this server writes its binlog coordinates to."""
        if self.version.is_mariadb and self.version.at_least(11, 1):
            return "mariadb_backup_binlog_info"
        return "xtrabackup_binlog_info"
