"""Server output read under one set of names, whichever server and version wrote it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "BINLOG_INFO_FILENAMES",
    "AptPolicy",
    "BinlogInfo",
    "ReplicaStatus",
    "binlog_retention_seconds",
    "normalize_replica_hosts",
    "normalize_replica_status",
    "parse_apt_policy",
    "parse_binlog_info",
]


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
        out.append(
            {
                "server_id": server_id,
                "host": _text(lowered.get("host")),
                "port": _int_or_none(lowered.get("port")),
            }
        )
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


@dataclass(frozen=True)
class AptPolicy:
    """One package in `apt-cache policy` output: what is installed and what apt would
    install, each None for apt's "(none)"."""

    installed: str | None
    candidate: str | None


def parse_apt_policy(text: str) -> dict[str, AptPolicy]:
    """Parse `LC_ALL=C apt-cache policy <package>...` output, keyed by package name.

    A package starts at a line "name:" in the first column; its "  Installed:" and
    "  Candidate:" lines follow; the version table (indented deeper) is not needed. A package
    apt does not know is absent from the output, and so from the result. Other locales
    translate the field names: the command sets LC_ALL=C.
    """
    out: dict[str, AptPolicy] = {}
    name: str | None = None
    fields: dict[str, str | None] = {}

    def close() -> None:
        if name is not None:
            out[name] = AptPolicy(fields.get("installed"), fields.get("candidate"))

    for line in text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            close()
            name, fields = line.rstrip()[:-1], {}
            continue
        key, sep, value = line.strip().partition(":")
        if name is None or not sep or key.lower() not in ("installed", "candidate"):
            continue
        value = value.strip()
        fields[key.lower()] = None if value in ("", "(none)") else value
    close()
    return out
