"""The admin interface (port 6032): statements against the three layers.

Every failure reaches the client as MySQL error 1045 with the text
``ProxySQL Admin Error: <SQLite's message>``, as ProxySQL answers.
"""

from __future__ import annotations

import logging
import re
import socket
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from moodle_wizard.lab.proxysql_standin import ADMIN_VERSION_COMMENT, LOG_NAME, commands, schema
from moodle_wizard.lab.proxysql_standin.commands import Direction, LayerCopy
from moodle_wizard.lab.proxysql_standin.modules import Module
from moodle_wizard.lab.proxysql_standin.runtime import RuntimeConfig
from moodle_wizard.lab.proxysql_standin.store import AdminStore, QueryResult
from moodle_wizard.lab.proxysql_standin.topology import Row
from moodle_wizard.lab.proxysql_standin.wire import (
    Connection,
    ErrorCode,
    MysqlError,
    parse_com_query,
    session_variables,
    text_result,
)

log = logging.getLogger(__name__)

ADMIN_ERROR_PREFIX = "ProxySQL Admin Error: "

_RUNTIME_NAMES = re.compile(r"runtime_(\w+)", re.IGNORECASE)

#: What ``SELECT @@x`` answers for the client-library variables drivers ask about.
_SESSION_VALUES: dict[str, str] = {
    "version_comment": ADMIN_VERSION_COMMENT,
    "max_allowed_packet": "67108864",
    "autocommit": "1",
    "auto_increment_increment": "1",
    "sql_mode": "",
    "character_set_client": "utf8mb4",
    "character_set_connection": "utf8mb4",
    "character_set_results": "utf8mb4",
    "character_set_server": "utf8mb4",
    "collation_connection": "utf8mb4_general_ci",
    "collation_server": "utf8mb4_general_ci",
    "init_connect": "",
    "interactive_timeout": "28800",
    "wait_timeout": "28800",
    "net_write_timeout": "60",
    "net_buffer_length": "16384",
    "license": "GPL",
    "lower_case_table_names": "0",
    "performance_schema": "0",
    "query_cache_size": "0",
    "query_cache_type": "OFF",
    "system_time_zone": "UTC",
    "time_zone": "SYSTEM",
    "tx_isolation": "REPEATABLE-READ",
    "transaction_isolation": "REPEATABLE-READ",
    "tx_read_only": "0",
    "transaction_read_only": "0",
}


class AdminError(Exception):
    """A refused admin statement; the text follows "ProxySQL Admin Error: "."""


LoadHook = Callable[[Module], Awaitable[None]]


class AdminInterface:
    """Runs admin statements against MEMORY/DISK (SQLite) and RUNTIME."""

    def __init__(self, store: AdminStore, runtime: RuntimeConfig, on_loaded: LoadHook) -> None:
        self.store = store
        self.runtime = runtime
        self._on_loaded = on_loaded
        #: Stats tables computed elsewhere (the Cluster's), regenerated when a query names them.
        self.stats_sources: dict[str, Callable[[], list[Row]]] = {}
        #: Checks a module's MEMORY rows before a LOAD ... TO RUNTIME; raises AdminError.
        self.load_guard: Callable[[Module, dict[str, list[Row]]], None] | None = None

    async def execute(self, sql: str, session_user: str = "") -> QueryResult:
        self.store.session_user = session_user
        try:
            return await self._run(commands.parse(sql))
        except sqlite3.Error as error:
            raise AdminError(str(error)) from error

    async def copy(self, copy: LayerCopy) -> None:
        """Move a module between layers; the destination's rows are replaced."""
        module, direction = copy.module, copy.direction
        if direction is Direction.MEMORY_TO_RUNTIME:
            memory = self.store.read_module(module)
            if self.load_guard is not None:
                self.load_guard(module, memory)
            if module.variable_prefix is not None:
                running = self.runtime.load_variables(module, memory["global_variables"])
                self.store.seed_variables(running, replace=True)
            else:
                self.runtime.load_tables(module, memory)
            await self._on_loaded(module)
        elif direction is Direction.RUNTIME_TO_MEMORY:
            self.store.write_module(module, self.runtime.module_rows(module))
        elif direction is Direction.MEMORY_TO_DISK:
            self.store.copy_module(module, "main", "disk")
        else:
            self.store.copy_module(module, "disk", "main")
        source, target = direction.value
        log.info("%s admin: %s %s -> %s", LOG_NAME, module.value, source.value, target.value)

    async def _run(self, command: commands.Command) -> QueryResult:
        match command:
            case LayerCopy():
                await self.copy(command)
                return QueryResult()
            case commands.Ignored():
                return QueryResult()
            case commands.SetVariable(name=name, value=value):
                # ProxySQL turns SET into this UPDATE: unknown names change nothing.
                return self.store.execute(
                    "UPDATE main.global_variables SET variable_value = ? WHERE variable_name = ?",
                    (value, name.lower()),
                )
            case commands.SelectVariables(items=items):
                values = [self._variable_value(name) for _, name in items]
                return QueryResult([label for label, _ in items], [values])
            case commands.ShowDatabases():
                return self.store.execute("PRAGMA database_list")
            case commands.ShowTables(schema=schema_name, like=like):
                return self.store.execute(
                    f"SELECT name AS tables FROM {_schema(schema_name)}.sqlite_master "
                    "WHERE type='table' AND name NOT IN ('sqlite_sequence') "
                    "AND name LIKE ? ORDER BY name",
                    (like or "%",),
                )
            case commands.ShowVariables(like=like):
                return self.store.execute(
                    "SELECT variable_name AS Variable_name, variable_value AS Value "
                    "FROM main.global_variables WHERE variable_name LIKE ? "
                    "ORDER BY variable_name",
                    (like or "%",),
                )
            case commands.ShowCreateTable(schema=schema_name, table=table):
                result = self.store.execute(
                    f'SELECT name AS "table", sql AS "Create Table" '
                    f"FROM {_schema(schema_name)}.sqlite_master WHERE type='table' AND name = ?",
                    (table,),
                )
                if not result.rows:
                    raise AdminError(f"no such table: {table}")
                return result
            case commands.ShowColumns(schema=schema_name, table=table):
                return self._show_columns(_schema(schema_name), table)
            case commands.ShowWarnings():
                return QueryResult(["Level", "Code", "Message"], [])
            case commands.Passthrough(sql=sql):
                if self.store.mentions_runtime_tables(sql):
                    self.refresh_runtime_tables(sql)
                return self.store.execute(sql)
        raise AssertionError(f"unhandled admin command {command!r}")

    def refresh_runtime_tables(self, sql: str) -> None:
        """Regenerate the ``runtime_`` (and stats) tables a statement reads, as ProxySQL does."""
        for name in {m.lower() for m in _RUNTIME_NAMES.findall(sql)}:
            if name == "checksums_values":
                self.store.replace_runtime_table(
                    "runtime_checksums_values", self.runtime.checksums.rows()
                )
            elif name in schema.CONFIG_TABLES:
                self.store.replace_runtime_table(name, self.runtime.rows(name))
        for table, source in self.stats_sources.items():
            if table in sql.lower():
                self.store.replace_stats_table(table, source())
        if "stats_mysql_connection_pool" in sql.lower():
            self.store.replace_stats_table(
                "stats_mysql_connection_pool", self.runtime.server_table.pool_rows()
            )

    def _variable_value(self, name: str) -> str | None:
        if name == "version":
            return self.runtime.variable("admin-version")
        if "-" in name:
            rows = self.store.execute(
                "SELECT variable_value FROM main.global_variables WHERE variable_name = ?",
                (name,),
            ).rows
            return str(rows[0][0]) if rows else None
        if name == "hostname":
            return socket.gethostname()
        if name in _SESSION_VALUES:
            return _SESSION_VALUES[name]
        raise AdminError(f"unknown variable: @@{name}")

    def _show_columns(self, schema_name: str, table: str) -> QueryResult:
        info = self.store.execute(f"PRAGMA {schema_name}.table_info({table})")
        if not info.rows:
            raise AdminError(f"no such table: {table}")
        rows = [
            (name, kind, "NO" if notnull else "YES", "PRI" if pk else "", default, "")
            for _, name, kind, notnull, default, pk in info.rows
        ]
        return QueryResult(["Field", "Type", "Null", "Key", "Default", "Extra"], rows)


def _schema(name: str) -> str:
    if name.lower() not in schema.DATABASES:
        raise AdminError(f"unknown database {name}")
    return name.lower()


class AdminSession:
    """The mysql-mimic session of one admin connection (duck-typed BaseSession)."""

    def __init__(self, admin: AdminInterface, server_version: str, peer: str) -> None:
        self.admin = admin
        self.peer = peer
        self.variables = session_variables(server_version, ADMIN_VERSION_COMMENT)
        self.username: str | None = None
        self.database: str | None = None

    async def init(self, connection: Any) -> None:
        pass

    async def close(self) -> None:
        pass

    async def reset(self) -> None:
        pass

    async def use(self, database: str) -> None:
        self.database = database

    async def run(self, sql: str) -> QueryResult:
        try:
            return await self.admin.execute(sql, f"{self.username}@{self.peer}")
        except AdminError as error:
            log.info("%s admin: error for %r: %s", LOG_NAME, sql[:200], error)
            raise MysqlError(
                ADMIN_ERROR_PREFIX + str(error), code=ErrorCode.ACCESS_DENIED_ERROR
            ) from error
        except Exception as error:
            log.exception("%s admin: failure running %r", LOG_NAME, sql[:200])
            raise MysqlError(
                ADMIN_ERROR_PREFIX + str(error), code=ErrorCode.ACCESS_DENIED_ERROR
            ) from error

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> Any:
        """mysql-mimic's entry point (prepared statements, COM_FIELD_LIST)."""
        result = await self.run(sql)
        return text_result(result.columns, result.rows) if result.is_result_set else None


class AdminConnection(Connection):  # type: ignore[misc]
    """mysql-mimic's connection, with ProxySQL's affected-rows count in OK packets."""

    async def handle_query(self, data: bytes) -> None:
        com_query = parse_com_query(
            capabilities=self.capabilities, client_charset=self.client_charset, data=data
        )
        result = await self.session.run(com_query.sql)
        if result.is_result_set:
            await self.write_text_resultset(text_result(result.columns, result.rows))
        else:
            await self.stream.write(self.ok(affected_rows=result.affected_rows))
