"""The RUNTIME layer: what the stand-in actually runs with.

MEMORY and DISK are SQLite tables; RUNTIME is this object. A ``LOAD ... TO
RUNTIME`` hands it the rows of a module, the ``runtime_`` tables are generated
from it on every read, and ``SAVE ... FROM RUNTIME`` copies it back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from moodle_wizard.lab.proxysql_standin import LOG_NAME
from moodle_wizard.lab.proxysql_standin.checksums import ChecksumBook, config_checksum
from moodle_wizard.lab.proxysql_standin.modules import Module
from moodle_wizard.lab.proxysql_standin.passwords import is_native_hash, native_hash
from moodle_wizard.lab.proxysql_standin.topology import (
    Endpoint,
    Row,
    ServerHealth,
    online_in_hostgroup,
    place_servers,
    replication_pairs,
)
from moodle_wizard.lab.proxysql_standin.variables import (
    KNOWN_VARIABLES,
    NODE_LOCAL,
    as_bool,
    normalize,
    parse_credentials,
)

log = logging.getLogger(__name__)

#: The checksum rows a module's load refreshes.
_CHECKSUM_NAMES: dict[Module, tuple[str, ...]] = {
    Module.ADMIN_VARIABLES: ("admin_variables",),
    Module.MYSQL_VARIABLES: ("mysql_variables",),
    Module.MYSQL_SERVERS: ("mysql_servers", "mysql_servers_v2"),
    Module.MYSQL_USERS: ("mysql_users",),
    Module.MYSQL_QUERY_RULES: ("mysql_query_rules",),
    Module.PROXYSQL_SERVERS: ("proxysql_servers",),
    Module.SCHEDULER: (),
}


class RuntimeConfig:
    def __init__(self) -> None:
        self._tables: dict[str, list[Row]] = {
            table: [] for module in Module for table in module.tables
        }
        self._variables: dict[str, str] = {
            name: spec.default for name, spec in KNOWN_VARIABLES.items()
        }
        self._health: dict[Endpoint, ServerHealth] = {}
        self.checksums = ChecksumBook()

    # -- loading (MEMORY -> RUNTIME) ----------------------------------------

    def load_tables(self, module: Module, tables: Mapping[str, Sequence[Row]]) -> None:
        for table in module.tables:
            rows = [dict(row) for row in tables.get(table, ())]
            if table == "mysql_users":
                rows = self._without_admin_users(rows)
            self._tables[table] = rows
        self._record_checksums(module, loaded=True)

    def load_variables(self, module: Module, rows: Sequence[Row]) -> dict[str, str]:
        """Take the module's known variables; return the values now running.

        A value the stand-in cannot use (``'abc'`` for an interval) is refused
        and the old one kept, as ProxySQL does; the caller writes the returned
        values back to MEMORY so that the refusal shows there too.
        """
        prefix = module.variable_prefix
        assert prefix is not None, module
        for row in rows:
            name, value = str(row["variable_name"]), str(row["variable_value"])
            if not name.startswith(prefix) or name not in KNOWN_VARIABLES:
                continue
            accepted = normalize(name, value)
            if accepted is None:
                log.warning("%s: refused %s=%r, keeping %r", LOG_NAME, name, value,
                            self._variables[name])
                continue
            self._variables[name] = accepted
        self._record_checksums(module, loaded=True)
        return {n: v for n, v in self._variables.items() if n.startswith(prefix)}

    def _without_admin_users(self, rows: list[Row]) -> list[Row]:
        admins = set(self.admin_credentials())
        kept = [row for row in rows if row["username"] not in admins]
        for row in rows:
            if row["username"] in admins:
                log.warning("%s: user %s is an admin user, not loaded as a mysql user",
                            LOG_NAME, row["username"])
        return kept

    # -- the monitor's findings ----------------------------------------------

    def update_health(self, health: Mapping[Endpoint, ServerHealth]) -> bool:
        """Replace what the monitor knows; True if the running servers changed."""
        before = self.servers()
        self._health = dict(health)
        after = self.servers()
        if after == before:
            return False
        self.checksums.record("mysql_servers", config_checksum(after), loaded=False)
        return True

    def health(self) -> dict[Endpoint, ServerHealth]:
        return dict(self._health)

    # -- views -----------------------------------------------------------------

    def servers(self) -> list[Row]:
        """RUNTIME mysql_servers: the loaded rows as placed by the monitor's read_only results."""
        return place_servers(
            self._tables["mysql_servers"],
            replication_pairs(self._tables["mysql_replication_hostgroups"]),
            self._health,
            as_bool(self._variables["mysql-monitor_writer_is_also_reader"]),
        )

    def monitored(self) -> dict[Endpoint, str | None]:
        """Every server the monitor should watch, with its read_only check type (or None)."""
        hostgroup_checks: dict[int, str] = {}
        for pair in replication_pairs(self._tables["mysql_replication_hostgroups"]):
            hostgroup_checks[pair.writer_hostgroup] = pair.check_type
            hostgroup_checks[pair.reader_hostgroup] = pair.check_type
        targets: dict[Endpoint, str | None] = {}
        for row in self._tables["mysql_servers"]:
            endpoint = Endpoint(str(row["hostname"]), int(row["port"]))
            check = hostgroup_checks.get(int(row["hostgroup_id"]))
            if targets.get(endpoint) is None:
                targets[endpoint] = check
        return targets

    def users(self) -> list[Row]:
        """RUNTIME mysql_users as ProxySQL shows them: a row per role, passwords hashed."""
        hash_passwords = as_bool(self._variables["admin-hash_passwords"])
        shown: list[Row] = []
        for row in self._tables["mysql_users"]:
            password = row.get("password")
            if hash_passwords and password and not is_native_hash(str(password)):
                row = {**row, "password": native_hash(str(password))}
            if row["frontend"] and row["backend"]:
                shown.append({**row, "frontend": 1, "backend": 0})
                shown.append({**row, "frontend": 0, "backend": 1})
            else:
                shown.append(dict(row))
        return sorted(shown, key=lambda r: (r["username"], r["backend"]))

    def variable_rows(self) -> list[Row]:
        return [
            {"variable_name": name, "variable_value": value}
            for name, value in sorted(self._variables.items())
        ]

    def rows(self, table: str) -> list[Row]:
        """The rows of ``runtime_<table>``."""
        if table == "mysql_servers":
            return self.servers()
        if table == "mysql_users":
            return self.users()
        if table == "global_variables":
            return self.variable_rows()
        return [dict(row) for row in self._tables[table]]

    def module_rows(self, module: Module) -> dict[str, list[Row]]:
        """What ``SAVE <module> FROM RUNTIME`` writes into MEMORY."""
        prefix = module.variable_prefix
        if prefix is not None:
            return {
                "global_variables": [
                    r for r in self.variable_rows() if str(r["variable_name"]).startswith(prefix)
                ]
            }
        return {table: self.rows(table) for table in module.tables}

    # -- lookups for the client side ---------------------------------------------

    def variable(self, name: str) -> str:
        return self._variables[name]

    def int_variable(self, name: str) -> int:
        return int(self._variables[name])

    def bool_variable(self, name: str) -> bool:
        return as_bool(self._variables[name])

    def admin_credentials(self) -> dict[str, str]:
        return parse_credentials(self._variables["admin-admin_credentials"])

    def frontend_user(self, username: str) -> Row | None:
        for row in self._tables["mysql_users"]:
            if row["username"] == username and row["active"] and row["frontend"]:
                return dict(row)
        return None

    def backend_password(self, username: str) -> str:
        """The password to log in to backends with (the backend row's, else the frontend's)."""
        candidates = [
            row for row in self._tables["mysql_users"]
            if row["username"] == username and row["active"]
        ]
        candidates.sort(key=lambda row: 0 if row["backend"] else 1)
        return str(candidates[0].get("password") or "") if candidates else ""

    def online_servers(self, hostgroup: int) -> list[Row]:
        return online_in_hostgroup(self.servers(), hostgroup)

    # -- checksums -------------------------------------------------------------

    def _record_checksums(self, module: Module, *, loaded: bool) -> None:
        for name in _CHECKSUM_NAMES[module]:
            self.checksums.record(name, config_checksum(self._checksum_rows(name)), loaded=loaded)

    def _checksum_rows(self, name: str) -> list[dict[str, Any]]:
        if name in ("admin_variables", "mysql_variables"):
            prefix = name.split("_", 1)[0] + "-"
            return [
                row for row in self.variable_rows()
                if str(row["variable_name"]).startswith(prefix)
                and row["variable_name"] not in NODE_LOCAL
            ]
        if name == "mysql_servers":
            return self.servers()
        if name == "mysql_servers_v2":
            return [
                {"table": table, **row}
                for table in Module.MYSQL_SERVERS.tables
                for row in self._tables[table]
            ]
        if name == "mysql_users":
            return self.users()
        if name == "mysql_query_rules":
            return [
                {"table": table, **row}
                for table in Module.MYSQL_QUERY_RULES.tables
                for row in self._tables[table]
            ]
        return self.rows(name)
