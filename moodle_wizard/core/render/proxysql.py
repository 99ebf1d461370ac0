"""The ProxySQL configuration the wizard writes, as admin statements. Pure: no I/O.

One node's config is: the database servers (the source in the writer hostgroup, the replicas in
the reader hostgroup with the source there too as a low-weight fallback, see server_rows; the
monitor then moves them by `read_only`), one replication hostgroup
pair checked with `read_only`, the frontend users routed by user (Moodle's to the writer, the
optional read-only user to the readers), and the variables: monitor credentials, the version
ProxySQL announces (Moodle checks it), the replacement admin credentials, and the admin
interface bound to loopback. Every node gets exactly the same statements, so two nodes end with
identical runtime config.

Why loopback: ProxySQL's admin interface listens on 0.0.0.0:6032 out of the box, and any admin
user other than the built-in `admin` may log in from the network, where
`SELECT password FROM mysql_users` returns Moodle's cleartext password. The wizard reaches the
admin interface through SSH at 127.0.0.1, so nothing else needs it.

Rows the wizard owns carry the comment `moodle-wizard`; rollback does not need it (it restores
the node's own files), but an operator can tell the wizard's rows from theirs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.sql.version import ServerVersion

__all__ = [
    "COMMENT",
    "PRIMARY_READER_WEIGHT",
    "REPLICA_READER_WEIGHT",
    "Backend",
    "FrontendUser",
    "ProxySqlConfig",
    "ProxySqlConfigError",
    "ServerRow",
    "admin_statements",
    "cnf_admin_credentials",
    "credentials_accept",
    "mysql_statements",
    "parse_credentials",
    "proxysql_lag_warning",
    "reads_summary",
    "server_rows",
    "servers_statements",
    "slave_lag_when_null",
    "users_statements",
]

COMMENT = "moodle-wizard"
# The reader hostgroup holds the primary too, so that Moodle's safe reads (the read-only user)
# fall back to it when no replica serves (all lagging, replication stopped, or none yet in the
# proxy-first order) instead of failing. ProxySQL picks a server by weight among the ONLINE
# ones: while replicas serve, about 1 read in (1000 x replicas + 1) lands on the primary, which
# is harmless for Moodle (the primary has every write); once none serves, all reads do.
PRIMARY_READER_WEIGHT = 1
REPLICA_READER_WEIGHT = 1000
# ProxySQL's own default for mysql-monitor_slave_lag_when_null.
_LAG_WHEN_NULL_DEFAULT = 60
_LOOPBACK_IFACE = re.compile(r"\A127\.0\.0\.1:[0-9]{1,5}\Z")


class ProxySqlConfigError(OperatorError, ValueError):
    """A value ProxySQL's configuration cannot hold (a Moodle user name with a '-', an admin
    password with ':'); the message names it and what is allowed."""


@dataclass(frozen=True)
class Backend:
    hostgroup: int
    hostname: str
    port: int


@dataclass(frozen=True)
class ServerRow:
    """One mysql_servers row the wizard writes."""

    hostgroup: int
    hostname: str
    port: int
    weight: int
    max_replication_lag: int
    status: str = "ONLINE"


def server_rows(writer_hg: int, reader_hg: int, port: int, primary: str,
                readers: tuple[str, ...], max_replication_lag: int,
                fenced: tuple[str, ...] = ()) -> list[ServerRow]:
    """Every mysql_servers row of both hostgroups (the one layout the proxysql step, the
    readers joining and the operations all write): the primary the writer, and a reader of
    weight PRIMARY_READER_WEIGHT whose lag is never checked (it replicates from nobody); each
    replica a reader of weight REPLICA_READER_WEIGHT taken out past `max_replication_lag`; a
    fenced server kept visible in the reader hostgroup, OFFLINE_HARD."""
    return [ServerRow(writer_hg, primary, port, 1, 0),
            ServerRow(reader_hg, primary, port, PRIMARY_READER_WEIGHT, 0),
            *(ServerRow(reader_hg, a, port, REPLICA_READER_WEIGHT, max_replication_lag)
              for a in readers),
            *(ServerRow(reader_hg, a, port, REPLICA_READER_WEIGHT, max_replication_lag,
                        "OFFLINE_HARD") for a in fenced)]


def slave_lag_when_null(max_replication_lag: int) -> int:
    """mysql-monitor_slave_lag_when_null: the lag ProxySQL assumes for a replica whose SQL or IO
    thread stopped (Seconds_Behind_Master NULL). Past the limit, so such a replica leaves the
    readers as a lagging one does; with no limit (0), ProxySQL's default."""
    if max_replication_lag <= 0:
        return _LAG_WHEN_NULL_DEFAULT
    return max(_LAG_WHEN_NULL_DEFAULT, max_replication_lag + 1)


def reads_summary(primary: str, replicas: list[str], max_replication_lag: int) -> str:
    """The reader hostgroup in the operator's words (the plan, the TUI's ProxySQL screen)."""
    limit = (f"a replica more than {max_replication_lag} s behind, or whose replication "
             "stopped, leaves the readers until it catches up" if max_replication_lag > 0 else
             "replication lag is not checked (max_replication_lag = 0)")
    if not replicas:
        return f"reader hostgroup: {primary} until the replicas join; then {limit}"
    return (f"reader hostgroup: {', '.join(replicas)} (weight {REPLICA_READER_WEIGHT} each), "
            f"{primary} (weight {PRIMARY_READER_WEIGHT}: takes the reads when no replica "
            f"serves); {limit}")


@dataclass(frozen=True)
class FrontendUser:
    username: str
    password: str  # cleartext: a hash cannot log in to caching_sha2_password backends
    hostgroup: int
    default_schema: str | None


@dataclass(frozen=True)
class ProxySqlConfig:
    writer_hostgroup: int
    reader_hostgroup: int
    servers: tuple[Backend, ...]
    users: tuple[FrontendUser, ...]
    monitor_user: str
    monitor_password: str
    server_version: str
    admin_user: str
    admin_password: str
    max_replication_lag: int = 30
    # admin-mysql_ifaces: loopback only (see the module's docstring).
    admin_ifaces: str = "127.0.0.1:6032"
    # TLS to every backend, the monitor's connections too (migration.tls, core/tls.py).
    use_ssl: bool = False

    def __post_init__(self) -> None:
        for user in (self.admin_user, *(u.username for u in self.users)):
            if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", user):
                raise ProxySqlConfigError(f"user name {user!r}: letters, digits and '_' only")
        # admin-admin_credentials is `user:pass;user:pass`: these would split it.
        if set(self.admin_password) & set(":; ") or not self.admin_password:
            raise ProxySqlConfigError("the admin password cannot be empty or contain ':', ';' or "
                                      "spaces")
        if not _LOOPBACK_IFACE.fullmatch(self.admin_ifaces):
            raise ProxySqlConfigError(f"admin interface {self.admin_ifaces!r}: only "
                                      "127.0.0.1:PORT (the wizard reaches it through SSH; "
                                      "nothing else needs it)")
        if self.admin_user in {u.username for u in self.users}:
            raise ProxySqlConfigError(f"{self.admin_user!r} is both an admin user and a mysql "
                                      "user; ProxySQL refuses that")

    @property
    def variables(self) -> dict[str, str]:
        """The mysql- variables, in the order they are written."""
        return {
            "mysql-monitor_username": self.monitor_user,
            "mysql-monitor_password": self.monitor_password,
            "mysql-server_version": self.server_version,
            # The primary stays in the reader hostgroup (as the fallback of server_rows, with
            # its low weight): when the monitor finds the writer by read_only, it keeps that
            # row instead of removing it, so reads never find the hostgroup empty.
            "mysql-monitor_writer_is_also_reader": "true",
            # A replica whose replication stopped reports no lag (NULL): counted as lagging
            # past max_replication_lag, it leaves the readers instead of serving stale reads.
            "mysql-monitor_slave_lag_when_null": str(slave_lag_when_null(
                self.max_replication_lag)),
            # While the writer restarts (the source's announced restart, a switchover), a new
            # query waits this long for a writer to be ONLINE instead of failing, and a query
            # that failed outside a transaction is retried once: ProxySQL's defaults, set so
            # that they are verified and shown, not assumed.
            "mysql-connect_timeout_server_max": "10000",
            "mysql-query_retries_on_failure": "1",
        }

    @property
    def rows(self) -> list[ServerRow]:
        """The mysql_servers rows: the writer-hostgroup server is the primary, the
        reader-hostgroup ones the replicas."""
        primary = [b for b in self.servers if b.hostgroup == self.writer_hostgroup]
        readers = tuple(b.hostname for b in self.servers if b.hostgroup == self.reader_hostgroup)
        if len(primary) != 1:
            raise ProxySqlConfigError(f"{len(primary)} servers in the writer hostgroup "
                                      f"{self.writer_hostgroup}; the wizard writes one")
        return server_rows(self.writer_hostgroup, self.reader_hostgroup, primary[0].port,
                           primary[0].hostname, readers, self.max_replication_lag)

    @property
    def admin_credentials(self) -> str:
        return f"{self.admin_user}:{self.admin_password}"


def _update_variable(name: str, value: str, secret: bool) -> Statement:
    return Statement("UPDATE global_variables SET variable_value = %s WHERE variable_name = %s",
                     (value, name), frozenset({0}) if secret else frozenset())


def servers_statements(writer_hg: int, reader_hg: int, rows: list[ServerRow],
                       use_ssl: bool = False) -> list[Statement]:
    """Both hostgroups' servers replaced by `rows` (in MEMORY; loading is the caller's),
    with TLS to each when `use_ssl` (migration.tls: the monitor user then requires it)."""
    out = [Statement("DELETE FROM mysql_servers WHERE hostgroup_id IN (%s, %s)",
                     (writer_hg, reader_hg))]
    out += [Statement("INSERT INTO mysql_servers (hostgroup_id, hostname, port, status, weight, "
                      "max_replication_lag, comment) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                      (row.hostgroup, row.hostname, row.port, row.status, row.weight,
                       row.max_replication_lag, COMMENT)) for row in rows]
    if use_ssl:
        out.append(Statement("UPDATE mysql_servers SET use_ssl = 1 WHERE hostgroup_id IN "
                             "(%s, %s)", (writer_hg, reader_hg)))
    return out


def users_statements(users: Sequence[FrontendUser]) -> list[Statement]:
    """The frontend users replaced in MEMORY (the proxysql step's, and `proxysql sync`'s for
    Moodle's user alone). The password is each INSERT's secret parameter (masked when shown)."""
    names = [u.username for u in users]
    out = [Statement(f"DELETE FROM mysql_users WHERE username IN "
                     f"({', '.join(['%s'] * len(names))})", tuple(names))]
    for u in users:
        schema = "%s" if u.default_schema is not None else "NULL"
        params: tuple[str | int, ...] = (u.username, u.password, u.hostgroup)
        if u.default_schema is not None:
            params += (u.default_schema,)
        out.append(Statement(
            "INSERT INTO mysql_users (username, password, active, default_hostgroup, "
            f"default_schema, transaction_persistent, comment) VALUES (%s, %s, 1, %s, "
            f"{schema}, 1, %s)", (*params, COMMENT), frozenset({1})))
    return out


def mysql_statements(cfg: ProxySqlConfig) -> list[Statement]:
    """Servers, replication hostgroups, users and mysql- variables into MEMORY (idempotent:
    the wizard's rows are replaced), then each module to RUNTIME and DISK."""
    w, r = cfg.writer_hostgroup, cfg.reader_hostgroup
    out = [*servers_statements(w, r, cfg.rows, cfg.use_ssl)]
    out += [
        Statement("DELETE FROM mysql_replication_hostgroups WHERE writer_hostgroup = %s "
                  "OR reader_hostgroup = %s", (w, r)),
        Statement("INSERT INTO mysql_replication_hostgroups (writer_hostgroup, "
                  "reader_hostgroup, check_type, comment) VALUES (%s, %s, 'read_only', %s)",
                  (w, r, COMMENT)),
    ]
    out += users_statements(cfg.users)
    out += [_update_variable(name, value, name.endswith("_password"))
            for name, value in cfg.variables.items()]
    for module in ("MYSQL SERVERS", "MYSQL USERS", "MYSQL VARIABLES"):
        out += [Statement(f"LOAD {module} TO RUNTIME"), Statement(f"SAVE {module} TO DISK")]
    return out


def admin_statements(cfg: ProxySqlConfig) -> list[Statement]:
    """The replacement admin credentials and the loopback-only admin interface, last: the
    session that sends them stays logged in (ProxySQL rebinds its admin listeners at LOAD
    ADMIN VARIABLES TO RUNTIME; established sessions are not closed), and every later login
    uses the new ones, through SSH to 127.0.0.1."""
    return [
        _update_variable("admin-admin_credentials", cfg.admin_credentials, True),
        _update_variable("admin-mysql_ifaces", cfg.admin_ifaces, False),
        Statement("LOAD ADMIN VARIABLES TO RUNTIME"),
        Statement("SAVE ADMIN VARIABLES TO DISK"),
    ]


def parse_credentials(value: str) -> dict[str, str]:
    """`admin-admin_credentials` ("admin:admin;radmin:x") as {user: password}; the first pair
    of a user wins, as in ProxySQL."""
    out: dict[str, str] = {}
    for pair in value.split(";"):
        user, sep, password = pair.strip().partition(":")
        if user and sep:
            out.setdefault(user, password)
    return out


def credentials_accept(value: str, user: str, password: str) -> bool:
    return parse_credentials(value).get(user) == password


_CNF_ADMIN_VARIABLES = re.compile(r"admin_variables\s*[=:]\s*\{(?P<body>.*?)\}", re.DOTALL)
_CNF_CREDENTIALS = re.compile(r'admin_credentials\s*[=:]\s*"(?P<value>(?:[^"\\]|\\.)*)"')


def cnf_admin_credentials(text: str) -> str | None:
    """`admin_credentials` from a proxysql.cnf (what a first start uses), or None."""
    block = _CNF_ADMIN_VARIABLES.search(_without_comments(text))
    if block is None:
        return None
    match = _CNF_CREDENTIALS.search(block.group("body"))
    return re.sub(r"\\(.)", r"\1", match.group("value")) if match else None


def _without_comments(text: str) -> str:
    """libconfig comments (#..., //..., /* ... */) removed, strings kept as they are."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif ch == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def proxysql_lag_warning(backend: ServerVersion, max_replication_lag: int) -> str | None:
    """Warn when ProxySQL's lag check cannot work against the backend.

    ProxySQL 2.7 measures lag with SHOW SLAVE STATUS, which MySQL 8.4 removed: the check
    fails, and a failed check counts as lag -3, which replication_lag_action_inner neither
    shuns nor brings back on (it needs a lag >= 0). So the limit silently does nothing: a
    lagging or stopped replica keeps serving reads.
    """
    if backend.is_mariadb or not backend.at_least(8, 4) or max_replication_lag <= 0:
        return None
    return (
        f"The backends run {backend}, which no longer has SHOW SLAVE STATUS. ProxySQL releases "
        f"that check lag with that statement (2.7 and older) cannot measure it, so "
        f"max_replication_lag = {max_replication_lag} does nothing there: a lagging or stopped "
        f"replica keeps serving reads. Use a ProxySQL release that supports MySQL 8.4 (3.0), "
        f"or keep Moodle's reads on the primary (no readonly_user)."
    )
