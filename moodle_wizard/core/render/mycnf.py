"""Render the wizard-owned MariaDB/MySQL option files.

Two kinds:
- the server snippet the wizard drops into the server's include directory (for example
  /etc/mysql/mariadb.conf.d/90-moodle-wizard.cnf): only the replication settings, so removing
  the file is the rollback;
- a client defaults file (`[client]`, mode 0600, deleted after use) that carries a password to
  the command-line tools, which keeps it off every command line (`ps` shows those).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.sql.version import ServerVersion

__all__ = [
    "DEFAULT_LOG_BIN",
    "DEFAULT_PORT",
    "MIN_RETENTION_DAYS",
    "SERVER_CNF_NAME",
    "BinlogDecision",
    "OptionFileError",
    "SourceBinlog",
    "quote_option_value",
    "render_client_defaults",
    "render_replica_cnf",
    "render_source_cnf",
    "retention_variable",
    "server_cnf_path",
    "source_binlog_plan",
]

SERVER_CNF_NAME = "90-moodle-wizard.cnf"
# Debian's packages own /var/log/mysql for the server user and suggest this basename.
DEFAULT_LOG_BIN = "/var/log/mysql/mysql-bin"
DEFAULT_EXPIRE_DAYS = 7
# The port a server listens on when its option files name none.
DEFAULT_PORT = 3306
# The replicas need the source's binary logs from the backup's start until they have caught
# up; a seed interrupted on a Friday evening must still find them on Monday morning.
MIN_RETENTION_DAYS = DEFAULT_EXPIRE_DAYS
_SERVER_ID_MAX = 2**32 - 1
# The option-file reader works on lines of at most 4096 bytes.
_MAX_VALUE_BYTES = 2000

# \A...\Z and fullmatch: "$" would accept a trailing newline (a second option line).
_PATH_RE = re.compile(r"\A/[A-Za-z0-9_./-]+\Z")
_HOST_RE = re.compile(r"\A[A-Za-z0-9]([A-Za-z0-9.-]{0,253})\Z")


class OptionFileError(OperatorError, ValueError):
    """A value that cannot be written into a MySQL/MariaDB option file as given."""


def server_cnf_path(version: ServerVersion) -> str:
    """Where the snippet goes on Debian-family hosts (both read /etc/mysql/<dir>/*.cnf)."""
    directory = "mariadb.conf.d" if version.is_mariadb else "mysql.conf.d"
    return f"/etc/mysql/{directory}/{SERVER_CNF_NAME}"


def _check_server_id(server_id: int) -> None:
    if not 1 <= server_id <= _SERVER_ID_MAX:
        # 0 makes a server refuse to act as a replica or to let replicas connect.
        raise OptionFileError(f"server_id {server_id} is not in 1..{_SERVER_ID_MAX}")


def _check_log_bin(log_bin: str) -> None:
    if not _PATH_RE.fullmatch(log_bin) or "/../" in f"{log_bin}/" or log_bin.endswith("/"):
        raise OptionFileError(
            f"log_bin {log_bin!r} must be an absolute file basename of letters, digits and "
            f"'_./-', e.g. {DEFAULT_LOG_BIN!r}"
        )


def _binlog_lines(version: ServerVersion, log_bin: str, expire_days: int) -> list[str]:
    _check_log_bin(log_bin)
    if not 1 <= expire_days <= 99:
        raise OptionFileError(f"binary log retention of {expire_days} days is not in 1..99")
    lines = [f"log_bin = {log_bin}", "binlog_format = ROW"]
    if version.is_mariadb:
        lines.append("log_slave_updates = ON")
        if version.at_least(10, 6, 1):
            lines.append(f"binlog_expire_logs_seconds = {expire_days * 86400}")
        else:
            lines.append(f"expire_logs_days = {expire_days}")
    else:
        updates = "log_replica_updates" if version.at_least(8, 0, 26) else "log_slave_updates"
        lines += [
            f"{updates} = ON",
            f"binlog_expire_logs_seconds = {expire_days * 86400}",
            # MariaDB always has GTIDs; MySQL needs both switched on (and together).
            "gtid_mode = ON",
            "enforce_gtid_consistency = ON",
        ]
    return lines


def _render(role: Literal["source", "replica"], body: list[str]) -> str:
    header = [
        f"# Managed by moodle-wizard ({role} settings for the replicated Moodle database).",
        "# Removing this file and restarting the server undoes them.",
        "[mysqld]",
    ]
    return "\n".join(header + body) + "\n"


def retention_variable(version: ServerVersion) -> str:
    """The retention option the server reads: MariaDB before 10.6.1 knows only days; MySQL
    uses the seconds when both are given; from 10.6.1 MariaDB's two are one setting."""
    if version.is_mariadb and not version.at_least(10, 6, 1):
        return "expire_logs_days"
    return "binlog_expire_logs_seconds"


@dataclass(frozen=True)
class SourceBinlog:
    """The source's binary-log setup as discovery found it."""

    log_bin: bool
    basename: str | None  # @@log_bin_basename (None while log_bin is off)
    binlog_format: str
    retention_seconds: int  # 0: binary logs never expire
    log_slave_updates: bool
    gtid_mode: str | None = None  # MySQL only
    # Where it listens (@@bind_address; None: not read, as in journals from before it was),
    # and the source's address in the inventory, which the replicas and proxies connect to.
    bind_address: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class BinlogDecision:
    """One setting: kept as the server has it, or changed (and why). `text` is the runbook
    line; `options` are the lines it puts into the wizard's option file."""

    setting: str
    changed: bool
    text: str
    options: tuple[str, ...] = ()


def _days(seconds: int) -> str:
    days = seconds / 86400
    return f"{days:g} day{'' if days == 1 else 's'}"


def _retention(version: ServerVersion, now: int) -> BinlogDecision:
    var = retention_variable(version)
    need = MIN_RETENTION_DAYS * 86400

    def value(seconds: int) -> str:
        return f"{seconds // 86400 if var == 'expire_logs_days' else seconds}"

    if now == 0:
        return BinlogDecision(var, False, f"keep {var} = 0 (binary logs never expire)")
    if now >= need:
        return BinlogDecision(var, False, f"keep {var} = {value(now)} ({_days(now)}; the "
                              f"replicas need at least {MIN_RETENTION_DAYS} days)")
    return BinlogDecision(
        var, True, f"change {var} from {value(now)} ({_days(now)}) to {value(need)} "
        f"({MIN_RETENTION_DAYS} days) because the replicas need the binary logs from the "
        "backup's start until they have caught up, also after a seed resumed days later",
        (f"{var} = {value(need)}",))


def source_binlog_plan(version: ServerVersion, now: SourceBinlog) -> list[BinlogDecision]:
    """What the source's option file must change, and what it keeps as the server has it.

    A setting the server already has as replication needs it is left to the server's own
    files (the wizard's file, read last, would override them): the binary log's basename, and
    a retention as long as the replicas need or longer (0, never expire, included). Retention
    is never shortened.
    """
    out: list[BinlogDecision] = []
    if now.log_bin:
        out.append(BinlogDecision("log_bin", False, f"keep log_bin ON with its basename "
                                  f"{now.basename} (the wizard's file does not set it)"))
    else:
        out.append(BinlogDecision(
            "log_bin", True, f"change log_bin from OFF to ON (basename {DEFAULT_LOG_BIN}) "
            "because replicas copy the source's changes from its binary log",
            (f"log_bin = {DEFAULT_LOG_BIN}",)))
    fmt = now.binlog_format.upper()
    if fmt == "ROW":
        out.append(BinlogDecision("binlog_format", False, "keep binlog_format = ROW (also "
                                  "written in the wizard's file, so a restart keeps it)",
                                  ("binlog_format = ROW",)))
    else:
        out.append(BinlogDecision(
            "binlog_format", True, f"change binlog_format from {fmt} to ROW because "
            "row events replay Moodle's writes exactly on a replica (statements may not)",
            ("binlog_format = ROW",)))
    updates = "log_slave_updates"
    if not version.is_mariadb and version.at_least(8, 0, 26):
        updates = "log_replica_updates"
    out.append(BinlogDecision(
        updates, not now.log_slave_updates,
        f"keep {updates} = ON" if now.log_slave_updates else
        f"change {updates} from OFF to ON because a replica promoted later must pass the "
        "changes on to the others", (f"{updates} = ON",)))
    out.append(_retention(version, now.retention_seconds))
    if not version.is_mariadb:
        on = (now.gtid_mode or "").upper() == "ON"
        out.append(BinlogDecision(
            "gtid_mode", not on, "keep gtid_mode = ON" if on else
            f"change gtid_mode from {now.gtid_mode} to ON (with enforce_gtid_consistency) "
            "because the replicas follow the source by GTID",
            ("gtid_mode = ON", "enforce_gtid_consistency = ON")))
    listen = listen_decision(version, now)
    if listen is not None:
        out.append(listen)
    return out


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def listen_decision(version: ServerVersion, now: SourceBinlog) -> BinlogDecision | None:
    """Where the source listens. Moodle on the same server often has it on 127.0.0.1 only
    (Debian's 50-server.cnf): the replicas and the proxy hosts could not reach it, so it also
    listens on its own address, keeping 127.0.0.1 for the local clients."""
    if now.bind_address is None or now.address is None:
        return None
    listening = [a.strip() for a in now.bind_address.split(",") if a.strip()]
    if not listening or not all(a in LOOPBACK for a in listening):
        return BinlogDecision("bind_address", False, f"keep bind-address = "
                              f"{now.bind_address or '(every address)'}: the replicas and "
                              "the proxy hosts can reach it")
    # A list of addresses: MariaDB from 10.11 (checked on 10.11.19), MySQL from 8.0.13.
    lists = version.at_least(10, 11) if version.is_mariadb else version.at_least(8, 0, 13)
    value = ",".join([*listening, now.address]) if lists else "0.0.0.0"
    why = ("" if lists else "; this version takes one address only, so every address: "
           "let your firewall admit only the replicas, the proxy hosts and Moodle")
    return BinlogDecision(
        "bind_address", True, f"change bind-address from {now.bind_address} to {value} "
        f"because the replicas and the proxy hosts connect to {now.address} (needs the "
        f"restart){why}", (f"bind-address = {value}",))


def render_source_cnf(
    version: ServerVersion,
    server_id: int,
    *,
    now: SourceBinlog | None = None,
    log_bin: str = DEFAULT_LOG_BIN,
    expire_days: int = DEFAULT_EXPIRE_DAYS,
) -> str:
    """The [mysqld] snippet that makes the standalone server a GTID replication source.

    With `now` (the server's setup as discovered), only what source_binlog_plan writes.
    """
    _check_server_id(server_id)
    if now is None:
        body = [f"server_id = {server_id}", *_binlog_lines(version, log_bin, expire_days)]
        return _render("source", body)
    decisions = source_binlog_plan(version, now)
    kept = [d.setting for d in decisions if not d.options]
    body = [f"server_id = {server_id}", *(o for d in decisions for o in d.options)]
    if kept:
        body.insert(0, f"# Kept as the server's own files set them: {', '.join(kept)}.")
    return _render("source", body)


def render_replica_cnf(
    version: ServerVersion,
    server_id: int,
    report_host: str,
    *,
    log_bin: str = DEFAULT_LOG_BIN,
    expire_days: int = DEFAULT_EXPIRE_DAYS,
    port: int = DEFAULT_PORT,
) -> str:
    """The [mysqld] snippet for a replica.

    The replica keeps its own binary log with the replicated changes in it so it can be
    promoted later, is read-only for everybody (MySQL: also for SUPER users), and rebuilds its
    relay log from the source after a crash instead of trusting a torn one. It listens on
    `port` (the plan's: the source's), written only when it is not the server's default.
    """
    _check_server_id(server_id)
    if not _HOST_RE.fullmatch(report_host):
        raise OptionFileError(f"report_host {report_host!r} is not a host name or address")
    if not 1 <= port <= 65535:
        raise OptionFileError(f"port {port} is not in 1..65535")
    body = [f"server_id = {server_id}", "read_only = ON"]
    if port != DEFAULT_PORT:
        body.append(f"port = {port}")
    if not version.is_mariadb:
        body.append("super_read_only = ON")
    body += [
        "relay_log_recovery = ON",
        f"report_host = {report_host}",
        *_binlog_lines(version, log_bin, expire_days),
    ]
    return _render("replica", body)


def quote_option_value(value: str) -> str:
    """Quote a value for a MySQL/MariaDB option file.

    The reader (mysys my_default.c, the same in both servers) strips one pair of matching
    outer quotes, then turns \\\\ \\" \\' \\n \\r \\t \\b \\s into characters; an unquoted '#'
    would start a comment and outer spaces would be trimmed. Double-quoting everything and
    escaping backslash, double quote and the line-breaking characters keeps any value intact.
    """
    if "\x00" in value:
        raise OptionFileError("a NUL character cannot be stored in an option file")
    if len(value.encode("utf-8")) > _MAX_VALUE_BYTES:
        raise OptionFileError("value too long for an option file line")
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\b", "\\b")
    )
    return f'"{escaped}"'


def render_client_defaults(
    user: str,
    password: str,
    host: str | None = None,
    port: int | None = None,
    socket: str | None = None,
) -> str:
    """A `[client]` defaults file for `mariadb`/`mysql`/`-dump`/`-backup --defaults-extra-file`.

    The caller writes it with mode 0600 and removes it afterwards. Note: this is the format
    the C client tools read; Python drivers' read_default_file parsers differ.
    """
    if port is not None and not 1 <= port <= 65535:
        raise OptionFileError(f"port {port} is not in 1..65535")
    lines = ["[client]", f"user = {quote_option_value(user)}"]
    lines.append(f"password = {quote_option_value(password)}")
    if host is not None:
        lines.append(f"host = {quote_option_value(host)}")
    if port is not None:
        lines.append(f"port = {port}")
    if socket is not None:
        lines.append(f"socket = {quote_option_value(socket)}")
    return "\n".join(lines) + "\n"
