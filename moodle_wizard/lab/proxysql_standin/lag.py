"""Replication lag: what ProxySQL 2.7's monitor reads and what it does with it.

Pure functions, so the decisions can be tested without a network or a clock.

lib/MySQL_Monitor.cpp:
- MySQL_Monitor::monitor_replication_lag checks, every
  ``mysql-monitor_replication_lag_interval`` ms, the rows of RUNTIME mysql_servers with
  ``max_replication_lag > 0 AND status NOT IN (OFFLINE_SOFT, OFFLINE_HARD)`` (a lag-shunned
  or shunned row too), one check per (hostgroup, server) row, or one per server with
  ``mysql-monitor_replication_lag_group_by_host``. A row with max_replication_lag 0 (the
  writer kept in the reader hostgroup) is never checked.
- monitor_replication_lag_async checks only servers that answer pings
  (server_responds_to_ping), with ``SHOW SLAVE STATUS`` whatever the server's version
  (2.7 has no SHOW REPLICA STATUS: MySQL 8.4 answers it with a syntax error), or the
  pt-heartbeat query of ``mysql-monitor_replication_lag_use_percona_heartbeat``, within
  ``mysql-monitor_replication_lag_timeout`` ms.
- monitor_replication_lag_process_ready_tasks reads ``Seconds_Behind_Master`` (only when
  the result has more than 30 columns, or exactly 1 with pt-heartbeat) and writes
  monitor.mysql_server_replication_lag_log (repl_lag NULL unless a number was read).

lib/MySQL_HostGroups_Manager.cpp MySQL_HostGroups_Manager::replication_lag_action_inner
turns the reading into a status (:func:`lag_action`); lib/MyHGC.cpp get_random_MySrvC
picks ONLINE servers only, and its last resort revives SHUNNED ones only, so a hostgroup
whose servers are all lag-shunned serves nobody (the session waits
connect_timeout_server_max, then 9001) unless the writer is also a reader there.

Where the stand-in differs: it relays a client session over one backend connection, so a
session already on a server that turns lag-shunned stays there until it ends (ProxySQL
multiplexes: the connection, back in the pool of a server no longer ONLINE, is dropped
and the session's next query goes elsewhere, push_MyConn_to_pool); a Moodle request is one
short session, so new requests route as ProxySQL's would. It reads one check per server
and round (monitor.py), ignores mysql_hostgroup_attributes' monitor_slave_lag_when_null
(only the global variable counts), does not enforce the variables' ranges
(monitor_replication_lag_count 1..10) and keeps no replication_lag_check_OK/ERR counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moodle_wizard.lab.proxysql_standin.topology import ONLINE, SHUNNED_REPLICATION_LAG

SLAVE_STATUS = "SHOW SLAVE STATUS"
PERCONA_HEARTBEAT = ("SELECT MAX(ROUND(TIMESTAMPDIFF(MICROSECOND, ts, SYSDATE(6))/1000000)) "
                     "AS Seconds_Behind_Master FROM ")

#: Seconds_Behind_Master was NULL (replication stopped, or the IO thread reconnecting).
LAG_NULL = -1
#: The check answered without a replication row or column: not a replica (issue 959).
NOT_A_REPLICA = -2
#: The check failed or timed out: a shunned server stays shunned, an ONLINE one stays.
CHECK_FAILED = -3


@dataclass(frozen=True)
class LagReading:
    """``repl_lag`` and ``override_repl_lag`` of monitor_replication_lag_process_ready_tasks."""

    lag: int
    override: bool

    @property
    def logged(self) -> int | None:
        """The repl_lag column of mysql_server_replication_lag_log."""
        return None if self.override else self.lag


FAILED = LagReading(CHECK_FAILED, True)


def lag_query(percona_heartbeat_table: str) -> str:
    return (PERCONA_HEARTBEAT + percona_heartbeat_table if percona_heartbeat_table
            else SLAVE_STATUS)


def reading(columns: Sequence[str], row: Sequence[Any] | None, *, percona: bool) -> LagReading:
    """The reading from a check that answered: its column names and first row (None: none)."""
    if not (len(columns) == 1 if percona else len(columns) > 30):
        # "mysql_fetch_fields returns NULL, or mysql_num_fields is incorrect" (bug #1994).
        return LagReading(NOT_A_REPLICA, True)
    if "Seconds_Behind_Master" not in columns or row is None:
        return LagReading(NOT_A_REPLICA, True)
    value = row[list(columns).index("Seconds_Behind_Master")]
    if value is None:
        return LagReading(LAG_NULL, True)
    return LagReading(int(value), False)


@dataclass(frozen=True)
class LagState:
    """What replication_lag_action_inner changes on a MySrvC."""

    status: str
    #: cur_replication_lag: the last reading (after the NULL substitution).
    lag: int
    #: cur_replication_lag_count: consecutive checks over the limit while ONLINE.
    count: int


def lag_action(status: str, count: int, max_lag: int, seen: LagReading, *,
               lag_count: int, lag_when_null: int) -> LagState:
    """replication_lag_action_inner for one server row.

    NULL becomes ``lag_when_null`` (mysql-monitor_slave_lag_when_null) and is then judged
    as a number. An ONLINE server over ``max_lag`` is shunned (SHUNNED_REPLICATION_LAG)
    once ``lag_count`` consecutive checks saw it over (mysql-monitor_replication_lag_count);
    a check within the limit resets the count. A lag-shunned server comes back ONLINE when
    a check reads a lag within the limit, or finds no replication at all. A failed check
    changes nothing but cur_replication_lag. Other statuses (SHUNNED, OFFLINE_SOFT) only
    record the lag.
    """
    lag, override = seen.lag, seen.override
    if lag == LAG_NULL and override:
        lag, override = lag_when_null, False
    if status == ONLINE:
        if lag >= 0 and max_lag > 0 and lag > max_lag:
            count += 1
            if count >= lag_count:
                return LagState(SHUNNED_REPLICATION_LAG, lag, count)
            return LagState(status, lag, count)
        return LagState(status, lag, 0)
    if status == SHUNNED_REPLICATION_LAG and (
            (not override and lag <= max_lag) or (lag == NOT_A_REPLICA and override)):
        return LagState(ONLINE, lag, 0)
    return LagState(status, lag, count)


def keeps_lag_shun_on_load(current_lag: int, new_max_lag: int) -> bool:
    """MySQL_HostGroups_Manager::commit with mysql-evaluate_replication_lag_on_servers_load=1:
    a lag-shunned server loaded ONLINE stays lag-shunned while its last lag (or a NULL or
    failed reading) is over the new max_replication_lag. A server last seen as no replica
    (-2) is set ONLINE."""
    if current_lag == NOT_A_REPLICA:
        return False
    return current_lag < 0 or (new_max_lag > 0 and current_lag > new_max_lag)
