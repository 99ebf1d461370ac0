"""The monitor: ping, connect and read_only checks, each on its own interval.

As ProxySQL 2.7's MySQL_Monitor: every ``mysql-monitor_ping_interval`` ms it
pings each server that is not OFFLINE_HARD (``monitor.mysql_server_ping_log``)
and shuns those whose last ``mysql-monitor_ping_max_failures`` pings all failed;
every ``mysql-monitor_connect_interval`` ms it opens a fresh connection to each
server that answers pings (``mysql_server_connect_log``); every
``mysql-monitor_read_only_interval`` ms it reads read_only on the servers of the
replication hostgroups that are neither OFFLINE_SOFT nor OFFLINE_HARD and answer
pings (``mysql_server_read_only_log``), and RUNTIME moves them; every
``mysql-monitor_replication_lag_interval`` ms it reads the replication lag of the
servers with a ``max_replication_lag`` that answer pings
(``mysql_server_replication_lag_log``) and shuns or re-enables them (``lag.py``).

Unlike ProxySQL, which opens one check per (hostgroup, server) row, the stand-in reads a
server's lag once per round on its kept monitor connection and applies the reading to
each of the server's checked rows (the same outcome, one log row instead of several).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiomysql

from moodle_wizard.lab.proxysql_standin import LOG_NAME
from moodle_wizard.lab.proxysql_standin.backend import backend_ssl
from moodle_wizard.lab.proxysql_standin.lag import FAILED, LagReading, lag_query, reading
from moodle_wizard.lab.proxysql_standin.mysql_errors import error_text
from moodle_wizard.lab.proxysql_standin.passwords import driver_password
from moodle_wizard.lab.proxysql_standin.runtime import RuntimeConfig
from moodle_wizard.lab.proxysql_standin.store import AdminStore
from moodle_wizard.lab.proxysql_standin.topology import Endpoint

log = logging.getLogger(__name__)

#: The query for each check_type of mysql_replication_hostgroups.
READ_ONLY_QUERIES: dict[str, str] = {
    "read_only": "SELECT @@global.read_only",
    "innodb_read_only": "SELECT @@global.innodb_read_only",
    "super_read_only": "SELECT @@global.super_read_only",
    "read_only|innodb_read_only": "SELECT (@@global.read_only OR @@global.innodb_read_only)",
    "read_only&innodb_read_only": "SELECT (@@global.read_only AND @@global.innodb_read_only)",
}

#: MySQL_Monitor::monitor_ping: the last N pings all failed, other than by a refused login.
_MISSED_PINGS = (
    "SELECT 1 FROM (SELECT hostname, port, ping_error FROM monitor.mysql_server_ping_log "
    "WHERE hostname = ? AND port = ? ORDER BY time_start_us DESC LIMIT ?) a "
    "WHERE ping_error IS NOT NULL AND ping_error NOT LIKE 'Access denied for user%' "
    "GROUP BY hostname, port HAVING COUNT(*) = ?"
)

#: monitor_read_only_process_ready_tasks: the last N checks all timed out.
_READ_ONLY_TIMEOUTS = (
    "SELECT 1 FROM (SELECT hostname, port, read_only, error "
    "FROM monitor.mysql_server_read_only_log "
    "WHERE hostname = ? AND port = ? ORDER BY time_start_us DESC LIMIT ?) a "
    "WHERE read_only IS NULL AND SUBSTR(error, 1, 7) = 'timeout' "
    "GROUP BY hostname, port HAVING COUNT(*) = ?"
)

#: The shunning query of MySQL_Monitor::monitor_ping, which also leaves out a refused
#: admin-style login and an expired password (server_responds_to_ping does not).
_SHUN_PINGS = _MISSED_PINGS.replace(
    "NOT LIKE 'Access denied for user%'",
    "NOT LIKE 'Access denied for user%' AND ping_error NOT LIKE 'ProxySQL Error: Access "
    "denied for user%' AND ping_error NOT LIKE 'Your password has expired.%'")

CHECKS = ("ping", "connect", "read_only", "replication_lag")


def _now_us() -> int:
    return time.time_ns() // 1000


class Monitor:
    def __init__(self, runtime: RuntimeConfig, store: AdminStore) -> None:
        self._runtime = runtime
        self._store = store
        self._connections: dict[Endpoint, Any] = {}
        self._credentials: tuple[str, str] = ("", "")
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._next = dict.fromkeys(CHECKS, 0.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="proxysql-standin-monitor")

    def poke(self) -> None:
        """Check now (after a LOAD changed servers or monitor settings)."""
        self._next = dict.fromkeys(CHECKS, 0.0)
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._drop_all()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if self._runtime.bool_variable("mysql-monitor_enabled"):
                for check in CHECKS:
                    if time.monotonic() >= self._next[check]:
                        interval = self._runtime.int_variable(f"mysql-monitor_{check}_interval")
                        self._next[check] = time.monotonic() + max(interval, 100) / 1000
                        try:
                            await self.run_check(check)
                        except Exception:
                            log.exception("%s monitor: %s check failed", LOG_NAME, check)
            wait = min(self._next.values()) - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.01))

    async def run_check(self, check: str) -> None:
        """One round of the ``ping``, ``connect``, ``read_only`` or ``replication_lag``
        check."""
        credentials = (
            self._runtime.variable("mysql-monitor_username"),
            self._runtime.variable("mysql-monitor_password"),
        )
        if credentials != self._credentials:
            self._drop_all()
            self._credentials = credentials
        if check == "ping":
            await self.ping_all()
        elif check == "connect":
            await self.connect_all()
        elif check == "read_only":
            await self.read_only_all()
        else:
            await self.replication_lag_all()

    async def ping_all(self) -> None:
        targets = self._runtime.monitored()
        for gone in set(self._connections) - set(targets):
            self._connections.pop(gone).close()
        await asyncio.gather(*(self._ping(endpoint) for endpoint in targets))
        failures = self._runtime.int_variable("mysql-monitor_ping_max_failures")
        for endpoint in targets:
            missed = self._store.execute(
                _SHUN_PINGS, (endpoint.hostname, endpoint.port, failures, failures)).rows
            if missed and self._runtime.server_table.shun_and_killall(endpoint,
                                                                      int(time.time())):
                log.error("%s monitor: server %s missed %d heartbeats, shunning it and "
                          "killing all the connections", LOG_NAME, endpoint, failures)

    async def connect_all(self) -> None:
        await asyncio.gather(*(
            self._connect_check(endpoint) for endpoint in self._runtime.monitored()
            if self._responds_to_ping(endpoint)
        ))

    async def read_only_all(self) -> None:
        targets = {endpoint: check for endpoint, check in self._runtime.read_only_targets().items()
                   if self._responds_to_ping(endpoint)}
        seen = await asyncio.gather(
            *(self._read_only(endpoint, check) for endpoint, check in targets.items()))
        results = {endpoint: value for endpoint, value in zip(targets, seen, strict=True)
                   if value is not None}
        if results and self._runtime.apply_read_only(results):
            log.info("%s monitor: runtime mysql_servers now %s", LOG_NAME,
                     [(r["hostgroup_id"], f"{r['hostname']}:{r['port']}", r["status"])
                      for r in self._runtime.servers()])

    async def replication_lag_all(self) -> None:
        targets = {endpoint: hostgroups
                   for endpoint, hostgroups in self._runtime.replication_lag_targets().items()
                   if self._responds_to_ping(endpoint)}
        seen = await asyncio.gather(*(self._replication_lag(endpoint) for endpoint in targets))
        for message in self._runtime.apply_replication_lag(
                {endpoint: (hostgroups, value)
                 for (endpoint, hostgroups), value in zip(targets.items(), seen, strict=True)
                 if value is not None}):
            log.warning("%s monitor: %s", LOG_NAME, message)

    def _responds_to_ping(self, endpoint: Endpoint, failures: int | None = None) -> bool:
        """MySQL_Monitor::server_responds_to_ping: not all of the last N pings failed."""
        n = failures or self._runtime.int_variable("mysql-monitor_ping_max_failures")
        missed = self._store.execute(
            _MISSED_PINGS, (endpoint.hostname, endpoint.port, n, n)).rows
        return not missed

    async def _ping(self, endpoint: Endpoint) -> None:
        started = _now_us()
        timeout = max(self._runtime.int_variable("mysql-monitor_ping_timeout") / 1000, 0.05)
        error: str | None = None
        try:
            connection = await self._connection(endpoint)
            async with asyncio.timeout(timeout):
                await connection.ping(reconnect=False)
        except TimeoutError:
            error = "timeout during ping"
        except Exception as failure:
            error = error_text(failure)
        if error is not None:
            self._discard(endpoint)
        self._log("mysql_server_ping_log", endpoint, started,
                  {"ping_success_time_us": 0 if error else _now_us() - started,
                   "ping_error": error})

    async def _connect_check(self, endpoint: Endpoint) -> None:
        started = _now_us()
        error: str | None = None
        try:
            (await self._open(endpoint)).close()
        except Exception as failure:
            error = error_text(failure)
        self._log("mysql_server_connect_log", endpoint, started,
                  {"connect_success_time_us": 0 if error else _now_us() - started,
                   "connect_error": error})

    async def _read_only(self, endpoint: Endpoint, check_type: str) -> int | None:
        """read_only as seen (0/1), 1 after too many timeouts, None when unknown."""
        started = _now_us()
        timeout = self._runtime.int_variable("mysql-monitor_read_only_timeout") / 1000
        try:
            connection = await self._connection(endpoint)
            async with asyncio.timeout(max(timeout, 0.05)):
                async with connection.cursor() as cursor:
                    await cursor.execute(READ_ONLY_QUERIES.get(check_type, "SELECT 1"))
                    (value,) = await cursor.fetchone()
        except Exception as failure:
            self._discard(endpoint)
            error = ("timeout check" if isinstance(failure, TimeoutError) and not failure.args
                     else error_text(failure))
            self._log("mysql_server_read_only_log", endpoint, started,
                      {"success_time_us": 0, "read_only": None, "error": error})
            count = self._runtime.int_variable("mysql-monitor_read_only_max_timeout_count")
            if self._store.execute(_READ_ONLY_TIMEOUTS,
                                   (endpoint.hostname, endpoint.port, count, count)).rows:
                log.error("%s monitor: server %s missed %d read_only checks. Assuming "
                          "read_only=1", LOG_NAME, endpoint, count)
                return 1
            return None
        read_only = 1 if int(value) else 0
        self._log("mysql_server_read_only_log", endpoint, started,
                  {"success_time_us": _now_us() - started, "read_only": read_only,
                   "error": None})
        return read_only

    async def _replication_lag(self, endpoint: Endpoint) -> LagReading | None:
        """One lag check (monitor_replication_lag_process_ready_tasks), logged; None when
        no monitor connection could be opened (monitor_replication_lag_thread's
        __fast_exit: neither a log row nor a lag action)."""
        started = _now_us()
        timeout = self._runtime.int_variable("mysql-monitor_replication_lag_timeout") / 1000
        heartbeat = self._runtime.variable("mysql-monitor_replication_lag_use_percona_heartbeat")
        try:
            connection = await self._connection(endpoint)
        except Exception as failure:
            log.error("%s monitor: no connection for the replication lag check on %s: %s",
                      LOG_NAME, endpoint, error_text(failure))
            return None
        try:
            async with asyncio.timeout(max(timeout, 0.05)):
                async with connection.cursor() as cursor:
                    await cursor.execute(lag_query(heartbeat))
                    columns = [str(d[0]) for d in cursor.description or ()]
                    row = await cursor.fetchone()
        except Exception as failure:
            self._discard(endpoint)
            error = ("timeout check" if isinstance(failure, TimeoutError) and not failure.args
                     else error_text(failure))
            log.error("%s monitor: replication lag check on server %s failed: %s", LOG_NAME,
                      endpoint, error)
            self._log("mysql_server_replication_lag_log", endpoint, started,
                      {"success_time_us": 0, "repl_lag": None, "error": error})
            return FAILED
        value = reading(columns, row, percona=bool(heartbeat))
        if value.override and value.lag == -1:
            log.error("%s monitor: Replication lag on server %s is NULL, using value %d",
                      LOG_NAME, endpoint, self._runtime.int_variable(
                          "mysql-monitor_slave_lag_when_null"))
        self._log("mysql_server_replication_lag_log", endpoint, started,
                  {"success_time_us": _now_us() - started, "repl_lag": value.logged,
                   "error": None})
        return value

    async def _connection(self, endpoint: Endpoint) -> Any:
        """The kept monitor connection to a server, opened if needed."""
        connection = self._connections.get(endpoint)
        if connection is None:
            connection = await self._open(endpoint)
            self._connections[endpoint] = connection
        return connection

    async def _open(self, endpoint: Endpoint) -> Any:
        user, password = self._credentials
        timeout = max(self._runtime.int_variable("mysql-monitor_connect_timeout") / 1000, 0.05)
        try:
            async with asyncio.timeout(timeout):
                return await aiomysql.connect(
                    host=endpoint.hostname, port=endpoint.port, user=user,
                    password=driver_password(password),
                    autocommit=True, program_name=f"{LOG_NAME}-monitor",
                    ssl=self._tls(endpoint),
                )
        except TimeoutError as error:
            raise TimeoutError("timeout on creating new connection") from error

    def _tls(self, endpoint: Endpoint) -> Any:
        """TLS when a row of the server says use_ssl=1 (ProxySQL's monitor does the same)."""
        rows = [r for r in self._runtime.servers()
                if (r["hostname"], int(r["port"])) == (endpoint.hostname, endpoint.port)]
        return next((c for c in map(backend_ssl, rows) if c is not None), None)

    def _log(self, table: str, endpoint: Endpoint, started: int, values: dict[str, Any]) -> None:
        self._store.log_monitor(
            table,
            {"hostname": endpoint.hostname, "port": endpoint.port, "time_start_us": started,
             **values},
            self._runtime.int_variable("mysql-monitor_history") * 1000,
        )

    def _discard(self, endpoint: Endpoint) -> None:
        connection = self._connections.pop(endpoint, None)
        if connection is not None:
            connection.close()

    def _drop_all(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
