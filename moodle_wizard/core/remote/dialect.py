"""The one place that knows how MariaDB and MySQL differ.

Everything here is pure: it returns SQL text (values as %s placeholders for the driver to
escape, never formatted in), tool names and options, and parses server output. Which variant
applies is decided from the server's own `SELECT VERSION(), @@version_comment`.

Version boundaries used below (from the MariaDB KB and the MySQL reference manual):
- MySQL 8.0.22: SHOW/START/STOP/RESET REPLICA (the SLAVE forms are removed in 8.4).
- MySQL 8.0.23: CHANGE REPLICATION SOURCE TO ... SOURCE_* (CHANGE MASTER is removed in 8.4).
- MySQL 8.0.26: mysqldump --source-data, log_replica_updates.
- MySQL 8.2.0: RESET BINARY LOGS AND GTIDS, SHOW BINARY LOG STATUS (old forms gone in 8.4).
- MariaDB 10.5.1: REPLICATION REPLICA as an alias of REPLICATION SLAVE.
- MariaDB 10.5.2: mariadb-dump/mariadb-backup are the tools' names.
- MariaDB 10.5.9: SHOW SLAVE STATUS needs SLAVE MONITOR (10.5.0-10.5.8: REPLICATION SLAVE ADMIN).
- MariaDB 10.6.1: binlog_expire_logs_seconds.
- MariaDB 11.1: mariadb-backup writes mariadb_backup_binlog_info (xtrabackup_binlog_info before).
MariaDB keeps accepting the SLAVE/MASTER statement forms, so they are used for every MariaDB.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "BINLOG_INFO_FILENAMES",
    "BackupTools",
    "BinlogInfo",
    "Dialect",
    "DumpTool",
    "Flavor",
    "ReplicaStatus",
    "ServerVersion",
    "Statement",
    "UnsupportedServerError",
    "binlog_retention_seconds",
    "copy_account_statements",
    "normalize_replica_hosts",
    "normalize_replica_status",
    "parse_binlog_info",
    "parse_version",
    "proxysql_lag_warning",
    "quote_identifier",
]

MASK = "********"


class Flavor(StrEnum):
    MARIADB = "mariadb"
    MYSQL = "mysql"


class UnsupportedServerError(ValueError):
    """A server version the wizard does not know how to drive."""


@dataclass(frozen=True, order=True)
class ServerVersion:
    flavor: Flavor
    major: int
    minor: int
    patch: int

    def at_least(self, major: int, minor: int = 0, patch: int = 0) -> bool:
        return (self.major, self.minor, self.patch) >= (major, minor, patch)

    @property
    def is_mariadb(self) -> bool:
        return self.flavor is Flavor.MARIADB

    @property
    def number(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def __str__(self) -> str:
        name = "MariaDB" if self.is_mariadb else "MySQL"
        return f"{name} {self.number}"


_VERSION_RE = re.compile(r"^\s*(?:5\.5\.5-)?(\d+)\.(\d+)\.(\d+)")


def parse_version(version: str, version_comment: str = "") -> ServerVersion:
    """Parse `SELECT VERSION(), @@version_comment`.

    MariaDB says so in VERSION() ("10.11.6-MariaDB-0+deb12u1") or in the comment; anything
    else (Oracle MySQL, Percona Server) is driven as MySQL. The "5.5.5-" prefix that MariaDB
    sends in the protocol handshake is accepted too.
    """
    match = _VERSION_RE.match(version)
    if not match:
        raise UnsupportedServerError(f"cannot read a server version from {version!r}")
    major, minor, patch = (int(g) for g in match.groups())
    text = f"{version} {version_comment}".lower()
    flavor = Flavor.MARIADB if "mariadb" in text else Flavor.MYSQL
    return ServerVersion(flavor, major, minor, patch)


def native_password_hash(password: str) -> str:
    """mysql_native_password's hash of `password` (as PASSWORD() computes it over UTF-8)."""
    inner = hashlib.sha1(password.encode("utf-8")).digest()  # the protocol's own hash
    return "*" + hashlib.sha1(inner).hexdigest().upper()


def quote_identifier(name: str) -> str:
    """Quote a database/table name for SQL: backticks, with backticks doubled."""
    if not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier {name!r}")
    return "`" + name.replace("`", "``") + "`"


SqlParam = str | int


@dataclass(frozen=True)
class Statement:
    """One SQL statement with its parameters.

    `secret` holds the indexes of parameters that must never be shown (plans, logs).
    Run it as `cursor.execute(stmt.sql, stmt.args)`: with no parameters `args` is None so the
    driver does not %-format the text (SHOW GRANTS output may contain a literal '%' host).
    """

    sql: str
    params: tuple[SqlParam, ...] = ()
    secret: frozenset[int] = field(default_factory=frozenset)

    @property
    def args(self) -> tuple[SqlParam, ...] | None:
        return self.params if self.params else None

    def display(self) -> str:
        """The statement for a plan or runbook, secrets masked. Not for execution."""
        if not self.params:
            return self.sql
        shown: list[str] = []
        for i, value in enumerate(self.params):
            if i in self.secret:
                shown.append(f"'{MASK}'")
            elif isinstance(value, int):
                shown.append(str(value))
            else:
                shown.append("'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'")
        return self.sql % tuple(shown)


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


@dataclass(frozen=True)
class ReplicaStatus:
    """The fields of SHOW REPLICA/SLAVE STATUS the wizard uses, under one set of names."""

    io_running: bool
    sql_running: bool
    io_state: str
    seconds_behind: int | None
    last_io_error: str
    last_sql_error: str
    source_host: str | None
    source_port: int | None
    source_log_file: str | None
    exec_source_log_pos: int | None
    uses_gtid: bool
    gtid_position: str | None

    @property
    def healthy(self) -> bool:
        return self.io_running and self.sql_running and not self.errors

    @property
    def errors(self) -> list[str]:
        return [e for e in (self.last_io_error, self.last_sql_error) if e]


@dataclass(frozen=True)
class BinlogInfo:
    """Binary log coordinates recorded by a physical backup."""

    file: str
    position: int
    gtid: str | None


# Newest name first: MariaDB >= 11.1 writes mariadb_backup_binlog_info, MariaDB before that and
# Percona XtraBackup write xtrabackup_binlog_info.
BINLOG_INFO_FILENAMES = ("mariadb_backup_binlog_info", "xtrabackup_binlog_info")


class Dialect:
    """SQL text, tool names and parsers for one server version."""

    def __init__(self, version: ServerVersion) -> None:
        if version.is_mariadb and not version.at_least(10, 3):
            raise UnsupportedServerError(f"{version} is too old: MariaDB 10.3 or later needed")
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
            return Statement("ALTER USER %s@%s IDENTIFIED BY PASSWORD %s",
                             (user, host, native_password_hash(password)), frozenset({2}))
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
        if self.version.at_least(10, 5):
            return "REPLICATION SLAVE ADMIN"
        return "REPLICATION CLIENT"

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


# -- parsers ---------------------------------------------------------------------------------


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _int_or_none(value: object) -> int | None:
    text = _text(value).strip()
    if not text or text.upper() == "NULL":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _pick(row: Mapping[str, object], *names: str) -> object:
    for name in names:
        if name in row:
            return row[name]
    return None


def binlog_retention_seconds(row: Mapping[str, object]) -> int:
    """A binlog_retention_sql() row as seconds; 0 means binary logs never expire. MySQL 8.0
    uses expire_logs_days only while binlog_expire_logs_seconds is 0."""
    if not _int_or_none(row.get("p")):
        return 0  # MySQL with binlog_expire_logs_auto_purge=OFF never purges by itself
    seconds = _int_or_none(row.get("s"))
    if seconds:
        return seconds
    days = _text(row.get("d")).strip()
    return round(float(days) * 86400) if days and days.upper() != "NULL" else 0


def normalize_replica_hosts(rows: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """SHOW REPLICAS / SHOW SLAVE HOSTS rows as {server_id, host, port}."""
    out: list[dict[str, object]] = []
    for row in rows:
        lowered = {key.lower(): value for key, value in row.items()}
        server_id = _int_or_none(lowered.get("server_id"))
        if server_id is None:
            continue
        out.append({"server_id": server_id, "host": _text(lowered.get("host")),
                    "port": _int_or_none(lowered.get("port"))})
    return out


def normalize_replica_status(row: Mapping[str, object] | None) -> ReplicaStatus | None:
    """Map a SHOW REPLICA/SLAVE STATUS row (either vocabulary) to `ReplicaStatus`.

    None (no row) means the server is not configured as a replica. Column names are
    matched case-insensitively because some drivers and ProxySQL change their case.
    """
    if row is None:
        return None
    lowered = {key.lower(): value for key, value in row.items()}

    def get(*names: str) -> object:
        return _pick(lowered, *(n.lower() for n in names))

    io_state = _text(get("Replica_IO_Running", "Slave_IO_Running")).strip()
    sql_state = _text(get("Replica_SQL_Running", "Slave_SQL_Running")).strip()
    using_gtid = _text(get("Using_Gtid")).strip().lower()
    auto_position = _text(get("Auto_Position")).strip()
    # MariaDB reports Gtid_IO_Pos (received; what was applied is @@gtid_slave_pos). MySQL
    # reports Executed_Gtid_Set, printed over several lines when there are several UUIDs.
    gtid_raw = _text(get("Executed_Gtid_Set", "Gtid_IO_Pos"))
    gtid = "".join(gtid_raw.split()) or None
    return ReplicaStatus(
        io_running=io_state == "Yes",
        sql_running=sql_state == "Yes",
        io_state=io_state,
        seconds_behind=_int_or_none(get("Seconds_Behind_Source", "Seconds_Behind_Master")),
        last_io_error=_text(get("Last_IO_Error")).strip(),
        last_sql_error=_text(get("Last_SQL_Error")).strip(),
        source_host=_text(get("Source_Host", "Master_Host")).strip() or None,
        source_port=_int_or_none(get("Source_Port", "Master_Port")),
        source_log_file=_text(get("Relay_Source_Log_File", "Relay_Master_Log_File")).strip()
        or None,
        exec_source_log_pos=_int_or_none(get("Exec_Source_Log_Pos", "Exec_Master_Log_Pos")),
        uses_gtid=using_gtid in ("slave_pos", "current_pos") or auto_position == "1",
        gtid_position=gtid,
    )


def parse_binlog_info(text: str) -> BinlogInfo:
    """Parse xtrabackup_binlog_info / mariadb_backup_binlog_info.

    Both are `file<TAB>position[<TAB>gtid]`. MariaDB's GTID is a comma list of
    domain-server-seq; XtraBackup's is a MySQL GTID set that continues over several lines
    ("uuid:1-5,\\nuuid:1-9"), so every whitespace inside the third field is dropped.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("the binlog info file is empty: the backup did not record a position")
    first_line = stripped.splitlines()[0]
    parts = stripped.split("\t", 2) if "\t" in first_line else stripped.split(None, 2)
    if len(parts) < 2:
        raise ValueError(f"cannot read binlog file and position from {first_line!r}")
    file, pos = parts[0].strip(), parts[1].strip()
    try:
        position = int(pos)
    except ValueError:
        raise ValueError(f"binlog position {pos!r} is not a number") from None
    gtid = "".join(parts[2].split()) if len(parts) > 2 else ""
    return BinlogInfo(file=file, position=position, gtid=gtid or None)


# -- copying an account to another host ------------------------------------------------------

_ACCOUNT_PART = r"(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|[A-Za-z0-9_.$%-]+)"
_ACCOUNT_RE = re.compile(rf"(?P<user>{_ACCOUNT_PART})@(?P<host>{_ACCOUNT_PART})")


def _unquote_account_part(part: str) -> str:
    if part.startswith("`"):
        return part[1:-1].replace("``", "`")
    if part.startswith("'"):
        inner = part[1:-1].replace("''", "'")
        return re.sub(r"\\(.)", r"\1", inner)
    return part


def _quote_account_part(value: str) -> str:
    return "`" + value.replace("`", "``") + "`"


def _top_level_keyword(sql: str, keyword: str) -> int:
    """Index of `keyword` (a whole word, any case) outside quotes, or -1."""
    i, n = 0, len(sql)
    kw = keyword.upper()
    while i < n:
        ch = sql[i]
        if ch in "`'\"":
            j = i + 1
            while j < n:
                if sql[j] == "\\" and ch != "`":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if (
            sql[i : i + len(kw)].upper() == kw
            and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_"))
            and (i + len(kw) == n or not (sql[i + len(kw)].isalnum() or sql[i + len(kw)] == "_"))
        ):
            return i
        i += 1
    return -1


def _rehost(line: str, keyword: str, user: str, old_host: str, new_host: str) -> str:
    at = _top_level_keyword(line, keyword)
    if at < 0:
        raise ValueError(f"no {keyword} clause in {line!r}")
    pos = at + len(keyword)
    skip = re.compile(r"\s+(?:IF\s+NOT\s+EXISTS\s+)?", re.IGNORECASE)
    gap = skip.match(line, pos)
    match = _ACCOUNT_RE.match(line, gap.end()) if gap else None
    if match is None:
        raise ValueError(f"no account after {keyword} in {line!r}")
    found_user = _unquote_account_part(match.group("user"))
    found_host = _unquote_account_part(match.group("host"))
    if (found_user, found_host) != (user, old_host):
        raise ValueError(
            f"{line!r} is for {found_user!r}@{found_host!r}, expected {user!r}@{old_host!r}"
        )
    account = f"{_quote_account_part(user)}@{_quote_account_part(new_host)}"
    return line[: match.start()] + account + line[match.end() :]


def copy_account_statements(
    show_grants: Sequence[str],
    create_user: str,
    user: str,
    old_host: str,
    new_host: str,
) -> list[Statement]:
    """Statements that give `user`@`new_host` exactly what `user`@`old_host` has.

    Input: the rows of `SHOW GRANTS FOR user@old_host` and the row of
    `SHOW CREATE USER user@old_host` (on MySQL after `prepare_show_create_user`). The password
    travels as the server's own hash (MariaDB `IDENTIFIED BY PASSWORD '*HEX'`, MySQL
    `IDENTIFIED WITH 'caching_sha2_password' AS 0x...`), so the wizard never needs the
    cleartext. Only the host part of the account changes; the statements have no parameters.
    """
    if not new_host or "\x00" in new_host:
        raise ValueError(f"invalid host {new_host!r}")
    create = create_user.strip()
    if not re.match(r"CREATE\s+USER\b", create, re.IGNORECASE):
        raise ValueError(f"not a CREATE USER statement: {create_user!r}")
    if re.search(r"\bAS\s+'\$", create):
        # caching_sha2_password / sha256_password hashes ('$A$005$...') contain raw bytes
        # that do not survive the trip through the driver as text.
        raise ValueError(
            "the password hash in SHOW CREATE USER is binary and printed as text; run "
            "SET SESSION print_identified_with_as_hex = ON first (prepare_show_create_user)"
        )
    statements: list[Statement] = []
    create = _rehost(create, "USER", user, old_host, new_host)
    create = re.sub(
        r"^\s*CREATE\s+USER\s+(?!IF\s+NOT\s+EXISTS\b)",
        "CREATE USER IF NOT EXISTS ",
        create,
        count=1,
        flags=re.IGNORECASE,
    )
    statements.append(Statement(create))
    for line in show_grants:
        line = line.strip()
        if not line:
            continue
        if not line.upper().startswith("GRANT "):
            raise ValueError(f"not a GRANT line: {line!r}")
        statements.append(Statement(_rehost(line, "TO", user, old_host, new_host)))
    return statements


def proxysql_lag_warning(backend: ServerVersion, max_replication_lag: int) -> str | None:
    """Warn when ProxySQL's lag check cannot work against the backend.

    ProxySQL 2.7 measures lag with SHOW SLAVE STATUS, which MySQL 8.4 removed: the check
    fails and healthy replicas get shunned whenever max_replication_lag is above 0.
    """
    if backend.is_mariadb or not backend.at_least(8, 4) or max_replication_lag <= 0:
        return None
    return (
        f"The backends run {backend}, which no longer has SHOW SLAVE STATUS. ProxySQL releases "
        f"that check lag with that statement (2.7 and older) will shun every replica when "
        f"max_replication_lag is {max_replication_lag}. Use max_replication_lag = 0, or a "
        f"ProxySQL release that supports MySQL 8.4."
    )
