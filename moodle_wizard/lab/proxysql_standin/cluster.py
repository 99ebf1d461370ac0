"""ProxySQL Cluster, as far as the lab needs it: peers polled, mysql_users pulled.

One task per ``runtime_proxysql_servers`` row (self included, as ProxySQL), started and
ended by ``LOAD PROXYSQL SERVERS TO RUNTIME`` and living in the serving process
(ProxySQL_Cluster_Monitor_thread): connect with ``admin-cluster_username/password``
(1 s timeout), require the peer's ``@@version`` to equal ours (else retry after 30 s),
then every ``admin-cluster_check_interval_ms`` read ``GLOBAL_CHECKSUM()`` and, when it
moved, ``runtime_checksums_values``. ``cluster_state`` decides; a pull of mysql_users
fetches the peer's RUNTIME users, checks their checksum, replaces MEMORY, loads RUNTIME
with the peer's epoch and saves to disk when ``..._save_to_disk``. The log lines are
ProxySQL's own, so a lab test greps either binary's log.

Not imitated: TLS of the link, ProxySQL's checksum algorithm (a stand-in never clusters
with a real ProxySQL; the version check refuses it anyway), the pull of any other
module (a LOAD PROXYSQL SERVERS with a cluster user and one of their diffs_before_sync
above 0 is refused), ``stats_proxysql_servers_metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiomysql

from moodle_wizard.lab.proxysql_standin import LOG_NAME
from moodle_wizard.lab.proxysql_standin.checksums import config_checksum
from moodle_wizard.lab.proxysql_standin.cluster_state import (
    DIFFS_VARIABLES,
    IMITATED,
    Action,
    Own,
    PeerChecksum,
    decide,
    observe,
    peer_to_sync,
)
from moodle_wizard.lab.proxysql_standin.mysql_errors import error_text
from moodle_wizard.lab.proxysql_standin.runtime import RuntimeConfig, shown_users
from moodle_wizard.lab.proxysql_standin.topology import Row

log = logging.getLogger(__name__)

Peer = tuple[str, int]

#: include/ProxySQL_Cluster.hpp CLUSTER_QUERY_MYSQL_USERS.
QUERY_MYSQL_USERS = (
    "PROXY_SELECT username, password, use_ssl, default_hostgroup, default_schema, "
    "schema_locked, transaction_persistent, fast_forward, backend, frontend, "
    "max_connections, attributes, comment FROM runtime_mysql_users"
)

_INT_COLUMNS = frozenset({
    "use_ssl", "default_hostgroup", "schema_locked", "transaction_persistent",
    "fast_forward", "backend", "frontend", "max_connections",
})

#: ProxySQL's hard-coded wait after a peer answered with another version.
VERSION_BACKOFF_S = 30.0

#: Hands pulled users (MEMORY rows) and the peer's epoch to the node to load and save.
PullHook = Callable[[list[Row], int], Awaitable[None]]


def typed_user_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Row]:
    """The text rows of QUERY_MYSQL_USERS as MEMORY rows (update_mysql_users: active=1)."""
    typed: list[Row] = []
    for values in rows:
        row: Row = {"active": 1}
        for name, value in zip(columns, values, strict=True):
            row[name] = int(value) if name in _INT_COLUMNS and value is not None else value
        typed.append(row)
    return typed


def users_checksum(rows: Sequence[Row]) -> str:
    """The mysql_users checksum these rows would run with (get_mysql_users_checksum)."""
    return config_checksum(shown_users(rows))


class Cluster:
    def __init__(self, runtime: RuntimeConfig, on_pulled: PullHook) -> None:
        self.runtime = runtime
        self._on_pulled = on_pulled
        self._tasks: dict[Peer, asyncio.Task[None]] = {}
        #: What each peer's modules looked like at its last poll.
        self.seen: dict[Peer, dict[str, PeerChecksum]] = {}
        self._pull_lock = asyncio.Lock()
        self.uuid = str(uuid.uuid4())

    def reload(self, rows: Sequence[Row]) -> None:
        """Follow RUNTIME proxysql_servers: a thread per new row, removed rows end theirs."""
        wanted = {(str(r["hostname"]), int(r["port"])) for r in rows}
        for peer in [p for p in self._tasks if p not in wanted]:
            self._tasks.pop(peer).cancel()
            self.seen.pop(peer, None)
            log.info("%s: Cluster: closing thread for peer %s:%d", LOG_NAME, *peer)
        for peer in sorted(wanted - set(self._tasks)):
            self.seen[peer] = {}
            self._tasks[peer] = asyncio.create_task(self._monitor(peer))

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def checksum_rows(self) -> list[Row]:
        """``stats_proxysql_servers_checksums``."""
        return [
            {"hostname": host, "port": port, "name": name, "version": s.version,
             "epoch": s.epoch, "checksum": s.checksum, "changed_at": s.changed_at,
             "updated_at": s.updated_at, "diff_check": s.diff_check}
            for (host, port), modules in sorted(self.seen.items())
            for name, s in sorted(modules.items())
        ]

    # -- the monitor thread of one peer -------------------------------------------

    def _credentials(self) -> tuple[str, str]:
        return (self.runtime.variable("admin-cluster_username"),
                self.runtime.variable("admin-cluster_password"))

    def _interval(self) -> float:
        return self.runtime.int_variable("admin-cluster_check_interval_ms") / 1000

    async def _connect(self, peer: Peer) -> Any:
        user, password = self._credentials()
        return await asyncio.wait_for(
            aiomysql.connect(host=peer[0], port=peer[1], user=user, password=password,
                             connect_timeout=1, autocommit=True), timeout=2)

    async def _monitor(self, peer: Peer) -> None:
        log.info("%s: Cluster: starting thread for peer %s:%d", LOG_NAME, *peer)
        while True:
            if not self._credentials()[0]:
                await asyncio.sleep(1)  # do not monitor if the username is empty
                continue
            try:
                connection = await self._connect(peer)
            except (TimeoutError, OSError, aiomysql.Error) as error:
                log.warning("%s: Cluster: unable to connect to peer %s:%d . Error: %s",
                            LOG_NAME, *peer, error_text(error))
                await asyncio.sleep(self._interval() + 1)
                continue
            try:
                if await self._same_version(connection, peer):
                    await self._poll_until_error(connection, peer)
                else:
                    connection.close()
                    await asyncio.sleep(VERSION_BACKOFF_S)
                    continue
            except (TimeoutError, OSError, aiomysql.Error) as error:
                log.error("%s: Cluster: unable to run query on %s:%d using user %s : %s",
                          LOG_NAME, *peer, self._credentials()[0], error_text(error))
            finally:
                connection.close()
            await asyncio.sleep(self._interval())

    async def _same_version(self, connection: Any, peer: Peer) -> bool:
        own = self.runtime.variable("admin-version")
        remote = (await _query(connection, "SELECT @@version"))[1][0][0]
        if remote != own:
            log.warning("%s: Cluster: different ProxySQL version with peer %s:%d . "
                        "Remote: %s . Self: %s", LOG_NAME, *peer, remote, own)
            return False
        log.info("%s: Cluster: clustering with peer %s:%d . Remote version: %s . "
                 "Self version: %s", LOG_NAME, *peer, remote, own)
        await _query(connection, f"PROXYSQL CLUSTER_NODE_UUID {self.uuid} "
                                 f"{self.runtime.variable('admin-mysql_ifaces')}")
        return True

    async def _poll_until_error(self, connection: Any, peer: Peer) -> None:
        last_global: object = None
        while True:
            started = time.monotonic()
            global_checksum = (await _query(connection, "SELECT GLOBAL_CHECKSUM()"))[1][0][0]
            rows: list[tuple[Any, ...]] | None = None
            if global_checksum != last_global:
                columns, values = await _query(
                    connection, "SELECT * FROM runtime_checksums_values ORDER BY name")
                names = [c.lower() for c in columns]
                rows = [tuple(v) for v in values]
                rows = [(r[names.index("name")], r[names.index("version")],
                         r[names.index("epoch")], r[names.index("checksum")]) for r in rows]
                last_global = global_checksum
            await self.apply(peer, rows)
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(self._interval() - elapsed, 0))

    # -- set_checksums and what follows --------------------------------------------

    async def apply(self, peer: Peer, rows: Sequence[tuple[Any, ...]] | None) -> None:
        """One poll's result: update the peer's entries, then pull what must be pulled."""
        seen = self.seen.get(peer)
        if seen is None:
            return
        now = int(time.time())
        by_name = {str(r[0]): (int(r[1]), int(r[2]), str(r[3])) for r in rows or ()}
        names = set(by_name) if rows is not None else set(seen)
        for name in sorted(names & set(DIFFS_VARIABLES)):
            own = self.runtime.checksums.get(name)
            entry = seen.setdefault(name, PeerChecksum())
            if observe(entry, by_name.get(name) if rows is not None else None,
                       own.checksum, now):
                diffs = self._diffs(name)
                log.info("%s: Cluster: detected a new checksum for %s from peer %s:%d, "
                         "version %d, epoch %d, checksum %s . %s", LOG_NAME, name, *peer,
                         entry.version, entry.epoch, entry.checksum,
                         "Not syncing yet ..." if diffs else
                         f"Not syncing due to '{DIFFS_VARIABLES[name]}=0'.")
        for name, entry in sorted(seen.items()):
            await self._act(peer, name, entry)

    def _diffs(self, name: str) -> int:
        return self.runtime.int_variable(DIFFS_VARIABLES[name]) if name in DIFFS_VARIABLES \
            else 0

    async def _act(self, peer: Peer, name: str, entry: PeerChecksum) -> None:
        own_entry = self.runtime.checksums.get(name)
        own = Own(own_entry.version, own_entry.epoch, own_entry.checksum)
        diffs = self._diffs(name)
        verdict = decide(entry, own, diffs)
        head = (f"Cluster: detected a peer {peer[0]}:{peer[1]} with {name} version "
                f"{entry.version}, epoch {entry.epoch}, diff_check {entry.diff_check}")
        if verdict.action is Action.PULL:
            if name not in IMITATED:
                log.error("%s: stand-in: cluster sync of %s is not imitated, not pulled",
                          LOG_NAME, name)
                return
            log.info("%s: %s. Own version: %d, epoch: %d. Proceeding with remote sync",
                     LOG_NAME, head, own.version, own.epoch)
            await self.pull_mysql_users(entry.checksum, entry.epoch)
        elif verdict.action is Action.CONFLICT and verdict.log:
            log.error("%s: %s, checksum %s. Own version: %d, epoch: %d, checksum %s. Sync "
                      "conflict, epoch times are EQUAL, can't determine which server holds "
                      "the latest config, we won't sync.", LOG_NAME, head, entry.checksum,
                      own.version, own.epoch, own.checksum)
        elif verdict.action is Action.PEER_VERSION_ONE and verdict.log:
            log.warning("%s: %s. Own version: %d, epoch: %d. diff_check is increasing, but "
                        "version 1 doesn't allow sync.", LOG_NAME, head, own.version,
                        own.epoch)

    async def pull_mysql_users(self, expected: str, epoch: int) -> None:
        """pull_mysql_users_from_peer: from the peer get_peer_to_sync names."""
        async with self._pull_lock:
            candidates = {p: m["mysql_users"] for p, m in self.seen.items()
                          if "mysql_users" in m}
            peer = peer_to_sync(candidates, self._diffs("mysql_users"))
            if peer is None:
                return
            log.info("%s: Cluster: Fetching MySQL Users from peer %s:%d started. "
                     "Expected checksum: %s", LOG_NAME, *peer, expected)
            try:
                connection = await self._connect(peer)
                try:
                    columns, values = await _query(connection, QUERY_MYSQL_USERS)
                finally:
                    connection.close()
            except (TimeoutError, OSError, aiomysql.Error) as error:
                log.info("%s: Cluster: Fetching MySQL Users from peer %s:%d failed: %s",
                         LOG_NAME, *peer, error_text(error))
                await asyncio.sleep(1)
                return
            log.info("%s: Cluster: Fetching MySQL Users from peer %s:%d completed",
                     LOG_NAME, *peer)
            rows = typed_user_rows(columns, values)
            computed = users_checksum(rows)
            if computed != expected:
                log.info("%s: Cluster: Fetching MySQL Users from peer %s:%d failed: "
                         "Checksum changed from %s to %s", LOG_NAME, *peer, expected, computed)
                await asyncio.sleep(1)
                return
            log.info("%s: Cluster: Loading to runtime MySQL Users from peer %s:%d",
                     LOG_NAME, *peer)
            await self._on_pulled(rows, epoch)


def unimitated_syncs(variables: Mapping[str, str]) -> list[str]:
    """Modules the stand-in would have to pull but cannot (diffs_before_sync above 0)."""
    return sorted({
        variable for name, variable in DIFFS_VARIABLES.items()
        if name not in IMITATED and int(variables.get(variable, "0") or 0) > 0
    })


async def _query(connection: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    async with connection.cursor() as cursor:
        await cursor.execute(sql)
        columns = [d[0] for d in cursor.description or ()]
        return columns, list(await cursor.fetchall())
