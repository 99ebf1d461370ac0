"""RUNTIME mysql_servers as ProxySQL's hostgroup manager keeps them, with the connection pool.

State, not a view: a LOAD replaces the rows (statuses as configured, like
MySQL_HostGroups_Manager::commit), then the monitor moves and shuns servers
until the next LOAD. Each row also counts the stand-in's backend connections
for ``stats_mysql_connection_pool``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moodle_wizard.lab.proxysql_standin import LOG_NAME
from moodle_wizard.lab.proxysql_standin.lag import LagReading, keeps_lag_shun_on_load, lag_action
from moodle_wizard.lab.proxysql_standin.topology import (
    OFFLINE_HARD,
    OFFLINE_SOFT,
    ONLINE,
    SHUNNED,
    SHUNNED_REPLICATION_LAG,
    Endpoint,
    ReplicationPair,
    Row,
    endpoint_of,
    online_in_hostgroup,
    read_only_action,
    row_key,
)

Key = tuple[int, Endpoint]

log = logging.getLogger(__name__)

#: Client error numbers that say nothing about the server's health
#: (MySrvC::connect_error returns early for them: access denied and the like).
_NOT_COUNTED = frozenset({1007, 1008, 1044, 1045, 1120, 1136, 1203, 1226, 3118})
_NOT_COUNTED_RANGES = ((1048, 1052), (1054, 1075), (1099, 1104), (1106, 1113), (1116, 1118),
                       (1138, 1149))


def counted_error(code: int) -> bool:
    """Whether a failed connect counts towards shunning (MySrvC::connect_error's early
    returns, exactly: 1053 "Server shutdown in progress" does count)."""
    return code not in _NOT_COUNTED and not any(
        low <= code <= high for low, high in _NOT_COUNTED_RANGES)


@dataclass
class _Server:
    """A MySrvC: one server in one hostgroup."""

    row: Row
    used: dict[int, Callable[[], None]] = field(default_factory=dict)
    conn_ok: int = 0
    conn_err: int = 0
    max_used: int = 0
    #: SHUNNED by the proxy itself (errors, missed pings), so it may recover by itself.
    shunned_automatic: bool = False
    kill_all: bool = False
    last_error_s: int = 0
    errors_this_second: int = 0
    #: cur_replication_lag and cur_replication_lag_count (lag.lag_action).
    lag: int = 0
    lag_count: int = 0


class ServerTable:
    def __init__(self) -> None:
        self._servers: dict[Key, _Server] = {}
        self._next_token = 0
        self._last_resort_logged_s = 0

    # -- configuration and the monitor -------------------------------------------

    def load(self, rows: Iterable[Mapping[str, Any]], evaluate_lag: bool = True) -> None:
        """LOAD MYSQL SERVERS TO RUNTIME: the configured rows and statuses win; a server
        no longer configured turns OFFLINE_HARD and goes once its connections are gone.

        Except (MySQL_HostGroups_Manager::commit) that a lag-shunned server loaded ONLINE
        stays lag-shunned while its last lag is over the new limit
        (mysql-evaluate_replication_lag_on_servers_load), unless its max_replication_lag
        is now 0."""
        loaded: dict[Key, _Server] = {}
        for row in rows:
            key = _key(row)
            server = self._servers.get(key) or _Server(dict(row))
            new_max = int(row.get("max_replication_lag") or 0)
            keep_lag_shun = (
                evaluate_lag and server.row["status"] == SHUNNED_REPLICATION_LAG
                and row["status"] == ONLINE and keeps_lag_shun_on_load(server.lag, new_max))
            server.row = dict(row)
            if keep_lag_shun and new_max > 0:
                server.row["status"] = SHUNNED_REPLICATION_LAG
            if row["status"] != SHUNNED or not server.shunned_automatic:
                server.shunned_automatic = server.kill_all = False
            loaded[key] = server
        for key, server in self._servers.items():
            if key not in loaded and server.used:
                server.row["status"] = OFFLINE_HARD
                loaded[key] = server
        self._servers = loaded

    def rows(self) -> list[Row]:
        """What runtime_mysql_servers shows (MYHGM_GEN_ADMIN_RUNTIME_SERVERS: a lag-shunned
        server as SHUNNED)."""
        return [{**row, "status": SHUNNED if row["status"] == SHUNNED_REPLICATION_LAG
                 else row["status"]} for row in self.raw_rows()]

    def raw_rows(self) -> list[Row]:
        """The rows with their own statuses: OFFLINE_HARD rows without connections are
        purged first (MySQL_HostGroups_Manager::purge_mysql_servers_table)."""
        self._purge()
        return [dict(s.row) for s in sorted(self._servers.values(), key=lambda s: row_key(s.row))]

    def apply_read_only(
        self, pairs: Sequence[ReplicationPair], results: Mapping[Endpoint, int],
        writer_is_also_reader: bool,
    ) -> bool:
        """Move servers as read_only_action_v2 does; True if the rows changed."""
        before = self.raw_rows()
        after = read_only_action(before, pairs, results, writer_is_also_reader)
        if after == before:
            return False
        for row in after:
            key = _key(row)
            server = self._servers.get(key)
            if server is None:
                self._servers[key] = _Server(row)
                continue
            if server.row["status"] != row["status"]:
                server.shunned_automatic = server.kill_all = False
            server.row = row
        self._purge()
        return True

    def replication_lag_action(
        self, readings: Mapping[Endpoint, tuple[Sequence[int], LagReading]], *,
        lag_count: int, lag_when_null: int,
    ) -> list[str]:
        """Apply the lag checks' readings (replication_lag_action_inner) to the rows of the
        given hostgroups; returns ProxySQL's warnings for the servers shunned or back."""
        messages: list[str] = []
        for endpoint, (hostgroups, seen) in readings.items():
            for hostgroup in hostgroups:
                server = self._servers.get((hostgroup, endpoint))
                if server is None:
                    continue
                before = server.row["status"]
                state = lag_action(before, server.lag_count,
                                   int(server.row.get("max_replication_lag") or 0), seen,
                                   lag_count=lag_count, lag_when_null=lag_when_null)
                server.row["status"], server.lag, server.lag_count = (
                    state.status, state.lag, state.count)
                if state.status == SHUNNED_REPLICATION_LAG and before == ONLINE:
                    messages.append(f"Shunning server {endpoint} from HG {hostgroup} with "
                                    f"replication lag of {state.lag} second, count number: "
                                    f"'{state.count}'")
                elif state.status == ONLINE and before == SHUNNED_REPLICATION_LAG:
                    messages.append(f"Re-enabling server {endpoint} from HG {hostgroup} "
                                    f"with replication lag of {state.lag} second")
        return messages

    def shun_and_killall(self, endpoint: Endpoint, now_s: int) -> bool:
        """Missed pings (MySQL_HostGroups_Manager::shun_and_killall): ONLINE rows of the
        server turn SHUNNED, its connections are dropped; True if one was ONLINE."""
        changed = False
        for server in self._of(endpoint):
            status = server.row["status"]
            if status == SHUNNED and not server.shunned_automatic:
                continue
            if status in (ONLINE, SHUNNED, OFFLINE_SOFT):
                if status == ONLINE:
                    server.row["status"] = SHUNNED
                    changed = True
                server.shunned_automatic = server.kill_all = True
                # ProxySQL drops the idle connections and kills the used ones when they
                # are next used; a relay has no "next use", so it is closed now.
                for close in list(server.used.values()):
                    close()
            server.last_error_s = now_s
        return changed

    # -- the client side ---------------------------------------------------------

    def candidates(self, hostgroup: int, now_s: int, recovery_s: int,
                   last_resort_s: int) -> list[Row]:
        """ONLINE servers of a hostgroup (MyHGC::get_random_MySrvC).

        Automatically shunned servers whose last error is older than ``recovery_s`` come
        back first (0: never this way). If that leaves the hostgroup without an ONLINE
        server, ProxySQL's "desperate attempt" (issue #531) brings back every automatically
        shunned one whose last error is older than ``last_resort_s`` (a tenth of the
        recovery time, at least 1 s): a lone writer that restarts is tried again about
        every 2 s, not after the full recovery time.
        """
        def unshun(server: _Server) -> None:
            server.row["status"] = ONLINE
            server.shunned_automatic = False
            server.errors_this_second = server.last_error_s = 0

        servers = [s for (group, _), s in self._servers.items() if group == hostgroup]
        auto_shunned = [s for s in servers if s.row["status"] == SHUNNED and s.shunned_automatic]
        for server in auto_shunned:
            if (recovery_s > 0 and now_s - server.last_error_s > recovery_s
                    and not (server.kill_all and server.used)):
                unshun(server)
                server.kill_all = False
        online = online_in_hostgroup((s.row for s in servers), hostgroup)
        if not online:
            if now_s - self._last_resort_logged_s > 1:  # at most once a second, as ProxySQL
                self._last_resort_logged_s = now_s
                log.error("%s: hostgroup %d has no servers available! Checking servers "
                          "shunned for more than %d second%s", LOG_NAME, hostgroup,
                          last_resort_s, "" if last_resort_s == 1 else "s")
            # The last resort keeps shunned_and_kill_all_connections as ProxySQL does.
            for server in auto_shunned:
                if server.row["status"] == SHUNNED and now_s - server.last_error_s > last_resort_s:
                    unshun(server)
            online = online_in_hostgroup((s.row for s in servers), hostgroup)
        return online

    def connect_error(self, hostgroup: int, endpoint: Endpoint, code: int, now_s: int,
                      max_failures: int) -> bool:
        """A failed backend connect (MySrvC::connect_error): ``max_failures`` in one second
        shun the server in this hostgroup; True if it was shunned now."""
        server = self._servers.get((hostgroup, endpoint))
        if server is None:
            return False
        server.conn_err += 1
        if not counted_error(code):
            return False
        if now_s > server.last_error_s:
            server.last_error_s, server.errors_this_second = now_s, 1
        elif now_s == server.last_error_s:
            server.errors_this_second += 1
        if server.errors_this_second >= max_failures and server.row["status"] == ONLINE:
            server.row["status"] = SHUNNED
            server.shunned_automatic = True
            return True
        return False

    def acquire(self, hostgroup: int, endpoint: Endpoint, close: Callable[[], None]) -> int:
        """Count a new backend connection as used; returns its token for release()."""
        server = self._servers.get((hostgroup, endpoint))
        self._next_token += 1
        if server is not None:
            server.used[self._next_token] = close
            server.max_used = max(server.max_used, len(server.used))
        return self._next_token

    def connected(self, hostgroup: int, endpoint: Endpoint) -> None:
        server = self._servers.get((hostgroup, endpoint))
        if server is not None:
            server.conn_ok += 1

    def release(self, hostgroup: int, endpoint: Endpoint, token: int) -> None:
        server = self._servers.get((hostgroup, endpoint))
        if server is not None:
            server.used.pop(token, None)

    def pool_rows(self) -> list[Row]:
        """stats_mysql_connection_pool (MySQL_HostGroups_Manager::SQL3_Connection_Pool).

        The stand-in relays each client session over its own backend connection and
        keeps no idle ones, so ConnFree is always 0.
        """
        return [
            {"hostgroup": key[0], "srv_host": key[1].hostname, "srv_port": key[1].port,
             "status": s.row["status"], "ConnUsed": len(s.used), "ConnFree": 0,
             "ConnOK": s.conn_ok, "ConnERR": s.conn_err, "MaxConnUsed": s.max_used,
             "Queries": 0, "Queries_GTID_sync": 0, "Bytes_data_sent": 0,
             "Bytes_data_recv": 0, "Latency_us": 0}
            for key, s in sorted(self._servers.items(), key=lambda item: row_key(item[1].row))
        ]

    # -- helpers -------------------------------------------------------------------

    def _of(self, endpoint: Endpoint) -> list[_Server]:
        return [s for (_, e), s in self._servers.items() if e == endpoint]

    def _purge(self) -> None:
        self._servers = {
            key: s for key, s in self._servers.items()
            if s.row["status"] != OFFLINE_HARD or s.used
        }


def _key(row: Mapping[str, Any]) -> Key:
    return int(row["hostgroup_id"]), endpoint_of(row)
