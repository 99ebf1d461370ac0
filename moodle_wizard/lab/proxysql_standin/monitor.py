"""The monitor: connect to every server, read read_only where a replication pair asks.

Every ``mysql-monitor_read_only_interval`` ms it checks each RUNTIME server
with the monitor user, records the result in ``monitor.mysql_server_connect_log``
/ ``monitor.mysql_server_read_only_log`` and hands what it saw to RUNTIME,
which moves servers between the writer and reader hostgroups (or shuns them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiomysql

from moodle_wizard.lab.proxysql_standin import LOG_NAME
from moodle_wizard.lab.proxysql_standin.mysql_errors import error_text, is_server_error
from moodle_wizard.lab.proxysql_standin.passwords import driver_password
from moodle_wizard.lab.proxysql_standin.runtime import RuntimeConfig
from moodle_wizard.lab.proxysql_standin.store import AdminStore
from moodle_wizard.lab.proxysql_standin.topology import Endpoint, ServerHealth

log = logging.getLogger(__name__)

#: The query for each check_type of mysql_replication_hostgroups.
READ_ONLY_QUERIES: dict[str, str] = {
    "read_only": "SELECT @@global.read_only",
    "innodb_read_only": "SELECT @@global.innodb_read_only",
    "super_read_only": "SELECT @@global.super_read_only",
    "read_only|innodb_read_only": "SELECT (@@global.read_only OR @@global.innodb_read_only)",
    "read_only&innodb_read_only": "SELECT (@@global.read_only AND @@global.innodb_read_only)",
}


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

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="proxysql-standin-monitor")

    def poke(self) -> None:
        """Check now (after a LOAD changed servers or monitor settings)."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    async def _run(self) -> None:
        while True:
            try:
                if self._runtime.bool_variable("mysql-monitor_enabled"):
                    await self.check_all()
            except Exception:
                log.exception("%s monitor: check cycle failed", LOG_NAME)
            interval = max(self._runtime.int_variable("mysql-monitor_read_only_interval"), 100)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval / 1000)
            self._wake.clear()

    async def check_all(self) -> None:
        credentials = (
            self._runtime.variable("mysql-monitor_username"),
            self._runtime.variable("mysql-monitor_password"),
        )
        if credentials != self._credentials:
            self._drop_all()
            self._credentials = credentials
        targets = self._runtime.monitored()
        for gone in set(self._connections) - set(targets):
            self._connections.pop(gone).close()
        previous = self._runtime.health()
        results = await asyncio.gather(
            *(self._check(endpoint, check, previous.get(endpoint)) for endpoint, check in
              targets.items())
        )
        health = dict(zip(targets, results, strict=True))
        for endpoint, seen in health.items():
            before = previous.get(endpoint, ServerHealth())
            if seen != before:
                log.info("%s monitor: %s reachable=%s read_only=%s (was reachable=%s "
                         "read_only=%s)", LOG_NAME, endpoint, seen.reachable, seen.read_only,
                         before.reachable, before.read_only)
        if self._runtime.update_health(health):
            log.info("%s monitor: runtime mysql_servers now %s", LOG_NAME,
                     [(r["hostgroup_id"], f"{r['hostname']}:{r['port']}", r["status"])
                      for r in self._runtime.servers()])

    async def _check(
        self, endpoint: Endpoint, check_type: str | None, previous: ServerHealth | None
    ) -> ServerHealth:
        reused = endpoint in self._connections
        health = await self._check_once(endpoint, check_type, previous)
        if reused and not health.reachable:
            # The kept connection may just have gone stale (server restarted):
            # judge the server by a fresh one.
            health = await self._check_once(endpoint, check_type, previous)
        return health

    async def _check_once(
        self, endpoint: Endpoint, check_type: str | None, previous: ServerHealth | None
    ) -> ServerHealth:
        last_read_only = previous.read_only if previous else None
        connection = self._connections.get(endpoint)
        if connection is None:
            try:
                connection = await self._connect(endpoint)
            except Exception as error:
                # A server that answers "access denied" is up; only the monitor
                # user is wrong, and that must not take the server out of service.
                return ServerHealth(reachable=is_server_error(error), read_only=last_read_only)
        if check_type is None:
            return ServerHealth(reachable=True, read_only=None)
        started = _now_us()
        timeout = self._runtime.int_variable("mysql-monitor_read_only_timeout") / 1000
        try:
            async with asyncio.timeout(max(timeout, 0.05)):
                async with connection.cursor() as cursor:
                    await cursor.execute(READ_ONLY_QUERIES.get(check_type, "SELECT 1"))
                    (value,) = await cursor.fetchone()
        except Exception as error:
            self._log_read_only(endpoint, started, None, error_text(error))
            self._connections.pop(endpoint, None)
            connection.close()
            # A server error (e.g. unknown variable) leaves the server where it is;
            # a lost or hung connection means the server cannot be reached.
            reachable = is_server_error(error)
            return ServerHealth(reachable=reachable, read_only=last_read_only)
        read_only = 1 if int(value) else 0
        self._log_read_only(endpoint, started, read_only, None)
        return ServerHealth(reachable=True, read_only=read_only)

    async def _connect(self, endpoint: Endpoint) -> Any:
        """A new monitor connection (or the error), recorded in the connect log."""
        user, password = self._credentials
        timeout = max(self._runtime.int_variable("mysql-monitor_connect_timeout") / 1000, 0.05)
        started = _now_us()
        try:
            async with asyncio.timeout(timeout):
                connection = await aiomysql.connect(
                    host=endpoint.hostname, port=endpoint.port, user=user,
                    password=driver_password(password),
                    autocommit=True, program_name=f"{LOG_NAME}-monitor",
                )
        except Exception as error:
            self._store.log_monitor(
                "mysql_server_connect_log",
                {"hostname": endpoint.hostname, "port": endpoint.port,
                 "time_start_us": started, "connect_success_time_us": 0,
                 "connect_error": error_text(error)},
                self._history_us(),
            )
            raise
        self._store.log_monitor(
            "mysql_server_connect_log",
            {"hostname": endpoint.hostname, "port": endpoint.port, "time_start_us": started,
             "connect_success_time_us": _now_us() - started, "connect_error": None},
            self._history_us(),
        )
        self._connections[endpoint] = connection
        return connection

    def _log_read_only(
        self, endpoint: Endpoint, started: int, read_only: int | None, error: str | None
    ) -> None:
        self._store.log_monitor(
            "mysql_server_read_only_log",
            {"hostname": endpoint.hostname, "port": endpoint.port, "time_start_us": started,
             "success_time_us": 0 if error else _now_us() - started,
             "read_only": read_only, "error": error},
            self._history_us(),
        )

    def _history_us(self) -> int:
        return self._runtime.int_variable("mysql-monitor_history") * 1000

    def _drop_all(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
