"""The ``admin-`` and ``mysql-`` global variables: defaults, checks, parsing."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from moodle_wizard.lab.proxysql_standin import STANDIN_VERSION


class Kind(enum.Enum):
    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class VariableSpec:
    default: str
    kind: Kind = Kind.TEXT
    #: Read-only variables keep their default whatever memory says (admin-version).
    read_only: bool = False


def _int(default: int) -> VariableSpec:
    return VariableSpec(str(default), Kind.INTEGER)


def _bool(default: bool) -> VariableSpec:
    return VariableSpec("true" if default else "false", Kind.BOOLEAN)


def _text(default: str) -> VariableSpec:
    return VariableSpec(default, Kind.TEXT)


# Defaults are ProxySQL 2.7's, admin-mysql_ifaces included: the admin interface
# listens on every address (0.0.0.0:6032) until told otherwise, as a freshly
# installed ProxySQL does. Only the built-in `admin` user is limited to
# localhost; any other admin user may log in from the network, which is what
# the wizard must close (it binds the interface to 127.0.0.1).
ADMIN_VARIABLES: Final[Mapping[str, VariableSpec]] = {
    "admin-admin_credentials": _text("admin:admin"),
    "admin-stats_credentials": _text("stats:stats"),
    "admin-mysql_ifaces": _text("0.0.0.0:6032"),
    "admin-cluster_username": _text(""),
    "admin-cluster_password": _text(""),
    "admin-cluster_check_interval_ms": _int(1000),
    "admin-cluster_check_status_frequency": _int(10),
    "admin-cluster_mysql_query_rules_diffs_before_sync": _int(3),
    "admin-cluster_mysql_servers_diffs_before_sync": _int(3),
    "admin-cluster_mysql_users_diffs_before_sync": _int(3),
    "admin-cluster_proxysql_servers_diffs_before_sync": _int(3),
    "admin-cluster_mysql_variables_diffs_before_sync": _int(3),
    "admin-cluster_admin_variables_diffs_before_sync": _int(3),
    "admin-cluster_ldap_variables_diffs_before_sync": _int(3),
    "admin-cluster_mysql_query_rules_save_to_disk": _bool(True),
    "admin-cluster_mysql_servers_save_to_disk": _bool(True),
    "admin-cluster_mysql_users_save_to_disk": _bool(True),
    "admin-cluster_proxysql_servers_save_to_disk": _bool(True),
    "admin-cluster_mysql_variables_save_to_disk": _bool(True),
    "admin-cluster_admin_variables_save_to_disk": _bool(True),
    "admin-checksum_mysql_query_rules": _bool(True),
    "admin-checksum_mysql_servers": _bool(True),
    "admin-checksum_mysql_users": _bool(True),
    "admin-checksum_mysql_variables": _bool(True),
    "admin-checksum_admin_variables": _bool(True),
    "admin-read_only": _bool(False),
    "admin-refresh_interval": _int(2000),
    "admin-restapi_enabled": _bool(False),
    "admin-restapi_port": _int(6070),
    "admin-web_enabled": _bool(False),
    "admin-web_port": _int(6080),
    "admin-version": VariableSpec(STANDIN_VERSION, Kind.TEXT, read_only=True),
}

MYSQL_VARIABLES: Final[Mapping[str, VariableSpec]] = {
    "mysql-interfaces": _text("0.0.0.0:6033"),
    "mysql-server_version": _text("8.0.11"),
    "mysql-default_charset": _text("utf8mb4"),
    "mysql-default_schema": _text("information_schema"),
    "mysql-threads": _int(4),
    "mysql-max_connections": _int(2048),
    "mysql-max_allowed_packet": _int(67108864),
    "mysql-wait_timeout": _int(28800000),
    "mysql-poll_timeout": _int(2000),
    # 2.6.0 turned it on: the admin port then offers TLS to Cluster peers (not imitated).
    "mysql-have_ssl": _bool(True),
    "mysql-multiplexing": _bool(True),
    "mysql-commands_stats": _bool(True),
    "mysql-sessions_sort": _bool(True),
    "mysql-connect_timeout_server": _int(1000),
    "mysql-connect_timeout_server_max": _int(10000),
    "mysql-connect_retries_on_failure": _int(10),
    "mysql-connect_retries_delay": _int(1),
    # Known and kept, as ProxySQL's; the stand-in relays a session's bytes and does not
    # replay a failed query itself (it holds new connections instead: connect_timeout_*).
    "mysql-query_retries_on_failure": _int(1),
    "mysql-shun_on_failures": _int(5),
    "mysql-shun_recovery_time_sec": _int(10),
    "mysql-monitor_enabled": _bool(True),
    "mysql-monitor_username": _text("monitor"),
    "mysql-monitor_password": _text("monitor"),
    "mysql-monitor_history": _int(7200000),
    "mysql-monitor_connect_interval": _int(120000),
    "mysql-monitor_connect_timeout": _int(600),
    "mysql-monitor_ping_interval": _int(8000),
    "mysql-monitor_ping_timeout": _int(1000),
    "mysql-monitor_ping_max_failures": _int(3),
    "mysql-monitor_read_only_interval": _int(1000),
    "mysql-monitor_read_only_timeout": _int(800),
    "mysql-monitor_read_only_max_timeout_count": _int(3),
    "mysql-monitor_writer_is_also_reader": _bool(True),
    "mysql-monitor_replication_lag_interval": _int(10000),
    "mysql-monitor_replication_lag_timeout": _int(1000),
    "mysql-monitor_slave_lag_when_null": _int(60),
    "mysql-monitor_replication_lag_count": _int(1),
    "mysql-monitor_replication_lag_group_by_host": _bool(False),
    "mysql-monitor_replication_lag_use_percona_heartbeat": _text(""),
    "mysql-evaluate_replication_lag_on_servers_load": _int(1),
}

KNOWN_VARIABLES: Final[Mapping[str, VariableSpec]] = {**ADMIN_VARIABLES, **MYSQL_VARIABLES}

#: The ranges ProxySQL_Admin::set_variable accepts; a value outside is refused.
RANGES: Final[Mapping[str, tuple[int, int]]] = {
    "admin-cluster_check_interval_ms": (10, 300000),
    "admin-cluster_check_status_frequency": (0, 10000),
    **{name: (0, 1000) for name in ADMIN_VARIABLES if name.endswith("_diffs_before_sync")},
}

#: set_variable("cluster_username", "") answers true and keeps the old value.
KEEP_WHEN_EMPTY: Final = frozenset({"admin-cluster_username", "admin-cluster_password"})

#: Node-local variables: two nodes running "the same config" may differ in
#: them, so they stay out of the admin_variables / mysql_variables checksums.
NODE_LOCAL: Final = frozenset(
    {"admin-version", "admin-mysql_ifaces", "mysql-interfaces", "mysql-threads"}
)


def normalize(name: str, value: str) -> str | None:
    """The value a RUNTIME load accepts for ``name``, or None when it is rejected."""
    spec = KNOWN_VARIABLES.get(name)
    if spec is None:
        return None
    if spec.read_only:
        return spec.default
    text = value.strip()
    if spec.kind is Kind.INTEGER:
        try:
            number = int(text)
        except ValueError:
            return None
        low, high = RANGES.get(name, (0, 2**63 - 1))
        if not low <= number <= high:
            return None
        return str(number)
    if spec.kind is Kind.BOOLEAN:
        lowered = text.lower()
        if lowered in {"true", "1"}:
            return "true"
        if lowered in {"false", "0"}:
            return "false"
        return None
    return value


def as_bool(value: str) -> bool:
    return value.strip().lower() in {"true", "1"}


def parse_credentials(value: str) -> dict[str, str]:
    """``"admin:admin;radmin:secret"`` -> ``{"admin": "admin", "radmin": "secret"}``."""
    credentials: dict[str, str] = {}
    for pair in value.split(";"):
        user, separator, password = pair.strip().partition(":")
        if user and separator:
            # The first pair for a user wins, as in ProxySQL's lookup.
            credentials.setdefault(user, password)
    return credentials


@dataclass(frozen=True)
class Interface:
    """One listening address of ``admin-mysql_ifaces`` / ``mysql-interfaces``."""

    host: str = ""
    port: int = 0
    unix_path: str = ""

    def __str__(self) -> str:
        return self.unix_path or f"{self.host}:{self.port}"


def parse_interfaces(value: str) -> list[Interface]:
    """``"0.0.0.0:6032;/tmp/proxysql_admin.sock"`` -> interfaces; bad entries raise ValueError."""
    interfaces: list[Interface] = []
    for raw in value.split(";"):
        entry = raw.strip()
        if not entry:
            continue
        if entry.startswith("/"):
            interfaces.append(Interface(unix_path=entry))
            continue
        host, separator, port = entry.rpartition(":")
        if not separator or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"invalid interface {entry!r} (expected host:port or /path)")
        interfaces.append(Interface(host=host.strip("[]") or "0.0.0.0", port=int(port)))
    if not interfaces:
        raise ValueError(f"no interface in {value!r}")
    return interfaces
