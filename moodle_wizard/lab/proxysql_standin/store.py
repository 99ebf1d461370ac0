"""The admin database: MEMORY (``main``), DISK (``disk``) and the monitor logs, in SQLite.

ProxySQL keeps its admin config in SQLite too; using it here gives the same
SQL dialect, the same constraint messages and the same ``disk`` file format
(``proxysql.db`` in the datadir).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from moodle_wizard.lab.proxysql_standin import schema
from moodle_wizard.lab.proxysql_standin.modules import Module
from moodle_wizard.lab.proxysql_standin.topology import Row

DISK_FILE = "proxysql.db"

_RUNTIME_REFERENCE = re.compile(
    r"runtime_|stats_mysql_connection_pool|stats_proxysql_servers_", re.IGNORECASE)


class QueryResult:
    """Rows and column names of a statement, or an affected-row count."""

    def __init__(
        self,
        columns: Sequence[str] = (),
        rows: Sequence[Sequence[Any]] = (),
        affected_rows: int = 0,
    ) -> None:
        self.columns = list(columns)
        self.rows = [tuple(row) for row in rows]
        self.affected_rows = affected_rows

    @property
    def is_result_set(self) -> bool:
        return bool(self.columns)


class AdminStore:
    def __init__(self, datadir: Path) -> None:
        self.disk_path = datadir / DISK_FILE
        #: True when there was no disk database yet: the first start of a node.
        self.fresh = not self.disk_path.exists()
        # Autocommit mode: statements from admin sessions apply at once, as in
        # ProxySQL; layer copies open their own transactions.
        self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._db.execute("ATTACH DATABASE ? AS disk", (str(self.disk_path),))
        for name in schema.DATABASES[2:]:
            self._db.execute(f"ATTACH DATABASE ':memory:' AS {name}")
        for table, ddl in schema.CONFIG_TABLES.items():
            self._db.execute(schema.create_statement(ddl))
            self._db.execute(schema.create_statement(ddl, schema="disk"))
            self._db.execute(schema.create_statement(ddl, name=schema.runtime_table(table)))
        self._db.execute(schema.create_statement(schema.RUNTIME_CHECKSUMS_VALUES))
        for ddl in schema.MONITOR_TABLES.values():
            self._db.execute(schema.create_statement(ddl, schema="monitor"))
        for ddl in schema.STATS_TABLES.values():
            self._db.execute(schema.create_statement(ddl, schema="stats"))
        #: ``user@host`` of the admin session whose statement runs now, for USER().
        self.session_user = ""
        # What the mariadb client's `status` command asks for.
        self._db.create_function("database", 0, lambda: "main", deterministic=True)
        self._db.create_function("user", 0, lambda: self.session_user)
        self._db.create_function("current_user", 0, lambda: self.session_user)

    def close(self) -> None:
        self._db.close()

    def add_function(self, name: str, function: Callable[[], str]) -> None:
        """An SQL function computed by the stand-in (``GLOBAL_CHECKSUM()``)."""
        self._db.create_function(name, 0, function)

    # -- raw statements from admin sessions ---------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        """Run one statement; sqlite3.Error propagates (the caller words it as ProxySQL)."""
        cursor = self._db.execute(sql, params)
        if cursor.description is None:
            return QueryResult(affected_rows=max(cursor.rowcount, 0))
        return QueryResult([d[0] for d in cursor.description], cursor.fetchall())

    @staticmethod
    def mentions_runtime_tables(sql: str) -> bool:
        return bool(_RUNTIME_REFERENCE.search(sql))

    # -- tables as rows -----------------------------------------------------------

    def read_table(self, table: str, schema_name: str = "main", where: str = "") -> list[Row]:
        cursor = self._db.execute(f"SELECT * FROM {schema_name}.{table} {where}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def read_module(self, module: Module, schema_name: str = "main") -> dict[str, list[Row]]:
        prefix = module.variable_prefix
        if prefix is not None:
            where = f"WHERE variable_name LIKE '{prefix}%'"
            return {"global_variables": self.read_table("global_variables", schema_name, where)}
        return {table: self.read_table(table, schema_name) for table in module.tables}

    def write_module(
        self, module: Module, tables: Mapping[str, Iterable[Row]], schema_name: str = "main"
    ) -> None:
        """Replace a module's rows in ``schema_name`` (variables: insert or replace)."""
        with self._transaction():
            for table, rows in tables.items():
                if module.variable_prefix is None:
                    self._db.execute(f"DELETE FROM {schema_name}.{table}")
                self._insert(f"{schema_name}.{table}", rows, replace=True)

    def copy_module(self, module: Module, source: str, target: str) -> None:
        """Copy a module between ``main`` and ``disk``, replacing the target's rows."""
        prefix = module.variable_prefix
        with self._transaction():
            if prefix is not None:
                self._db.execute(
                    f"INSERT OR REPLACE INTO {target}.global_variables "
                    f"SELECT * FROM {source}.global_variables WHERE variable_name LIKE ?",
                    (prefix + "%",),
                )
                return
            for table in module.tables:
                self._db.execute(f"DELETE FROM {target}.{table}")
                self._db.execute(f"INSERT INTO {target}.{table} SELECT * FROM {source}.{table}")

    def replace_runtime_table(self, table: str, rows: Iterable[Row]) -> None:
        """Regenerate ``runtime_<table>`` (or ``runtime_checksums_values``)."""
        name = table if table.startswith("runtime_") else schema.runtime_table(table)
        with self._transaction():
            self._db.execute(f"DELETE FROM main.{name}")
            self._insert(f"main.{name}", rows, replace=False)

    def replace_stats_table(self, table: str, rows: Iterable[Row]) -> None:
        """Regenerate a ``stats`` table from what the stand-in counts now."""
        with self._transaction():
            self._db.execute(f"DELETE FROM stats.{table}")
            self._insert(f"stats.{table}", rows, replace=False)

    def seed_variables(self, values: Mapping[str, str], *, replace: bool) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._transaction():
            self._db.executemany(
                f"{verb} INTO main.global_variables VALUES (?, ?)", list(values.items())
            )

    def insert_rows(self, table: str, rows: Iterable[Row]) -> None:
        """Add rows to a MEMORY table (initial config from a .cnf file)."""
        with self._transaction():
            self._insert(f"main.{table}", rows, replace=False)

    # -- monitor logs -------------------------------------------------------------------

    def log_monitor(self, table: str, row: Row, history_us: int) -> None:
        with self._transaction():
            self._insert(f"monitor.{table}", [row], replace=True)
            self._db.execute(
                f"DELETE FROM monitor.{table} WHERE time_start_us < ?",
                (int(row["time_start_us"]) - history_us,),
            )

    # -- helpers ---------------------------------------------------------------------

    def _insert(self, qualified_table: str, rows: Iterable[Row], *, replace: bool) -> None:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        for row in rows:
            columns = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            self._db.execute(
                f"{verb} INTO {qualified_table} ({columns}) VALUES ({marks})", list(row.values())
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN/COMMIT, or ROLLBACK on error; nests as a no-op inside an open transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._owner = False

    def __enter__(self) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
            self._owner = True

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._owner:
            return
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
