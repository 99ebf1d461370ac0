"""The RUNTIME layer: what the stand-in actually runs with.

MEMORY and DISK are SQLite tables; RUNTIME is this object. A ``LOAD ... TO
RUNTIME`` hands it the rows of a module, the ``runtime_`` tables are generated
from it on every read, and ``SAVE ... FROM RUNTIME`` copies it back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from moodle_wizard.lab.proxysql_standin import LOG_NAME
from moodle_wizard.lab.proxysql_standin.checksums import ChecksumBook, config_checksum
from moodle_wizard.lab.proxysql_standin.lag import LagReading
from moodle_wizard.lab.proxysql_standin.modules import Module
from moodle_wizard.lab.proxysql_standin.servers import ServerTable
from moodle_wizard.lab.proxysql_standin.topology import (
    OFFLINE_HARD,
    SHUNNED,
    Endpoint,
    Row,
    monitored_servers,
    read_only_targets,
    replication_lag_targets,
    replication_pairs,
)
from moodle_wizard.lab.proxysql_standin.variables import (
    KEEP_WHEN_EMPTY,
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
        #: RUNTIME mysql_servers and the connection pool.
        self.server_table = ServerTable()
        self.checksums = ChecksumBook()

    # -- loading (MEMORY -> RUNTIME) ----------------------------------------

    def load_tables(self, module: Module, tables: Mapping[str, Sequence[Row]],
                    epoch: int | None = None) -> None:
        """``epoch``: a Cluster pull keeps the peer's (init_users), a LOAD takes now."""
        for table in module.tables:
            rows = [dict(row) for row in tables.get(table, ())]
            if table == "mysql_users":
                rows = self._without_admin_users(rows)
            self._tables[table] = rows
        if module is Module.MYSQL_SERVERS:
            self.server_table.load(
                self._tables["mysql_servers"],
                self.int_variable("mysql-evaluate_replication_lag_on_servers_load") != 0)
        self._record_checksums(module, loaded=True, epoch=epoch)

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
            if accepted == "" and name in KEEP_WHEN_EMPTY:
                continue
            if accepted is None:
                log.warning("%s: refused %s=%r, keeping %r", LOG_NAME, name, value,
                            self._variables[name])
                continue
            self._variables[name] = accepted
        if self._variables["admin-checksum_mysql_users"] == "false":
            # set_variable: "Disabling deprecated 'admin-checksum_mysql_users', setting
            # 'admin-cluster_mysql_users_diffs_before_sync=0'".
            self._variables["admin-cluster_mysql_users_diffs_before_sync"] = "0"
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

    def apply_read_only(self, results: Mapping[Endpoint, int]) -> bool:
        """Move servers as the monitor's read_only results say; True if rows changed."""
        changed = self.server_table.apply_read_only(
            replication_pairs(self._tables["mysql_replication_hostgroups"]), results,
            self.bool_variable("mysql-monitor_writer_is_also_reader"),
        )
        if changed:
            # As after read_only_action_v2: a new mysql_servers checksum, not a load.
            self.checksums.record(
                "mysql_servers", config_checksum(self._checksum_rows("mysql_servers")),
                loaded=False,
            )
        return changed

    def apply_replication_lag(self, readings: Mapping[Endpoint, tuple[Sequence[int],
                                                                     LagReading]]) -> list[str]:
        """Shun or re-enable servers as the lag checks' readings say (no checksum change:
        either SHUNNED counts as ONLINE in it)."""
        return self.server_table.replication_lag_action(
            readings, lag_count=self.int_variable("mysql-monitor_replication_lag_count"),
            lag_when_null=self.int_variable("mysql-monitor_slave_lag_when_null"))

    # -- views -----------------------------------------------------------------

    def servers(self) -> list[Row]:
        """RUNTIME mysql_servers: as loaded, then moved and shunned by the monitor."""
        return self.server_table.rows()

    def read_only_targets(self) -> dict[Endpoint, str]:
        """Servers whose read_only the monitor checks, with the check type."""
        return read_only_targets(
            self.servers(), replication_pairs(self._tables["mysql_replication_hostgroups"])
        )

    def replication_lag_targets(self) -> dict[Endpoint, list[int]]:
        """Servers whose lag the monitor checks, with the hostgroups the reading goes to."""
        return replication_lag_targets(
            self.server_table.raw_rows(),
            self.bool_variable("mysql-monitor_replication_lag_group_by_host"))

    def monitored(self) -> list[Endpoint]:
        """Servers the ping and connect checks watch (all but OFFLINE_HARD ones)."""
        return monitored_servers(self.servers())

    def users(self) -> list[Row]:
        """RUNTIME mysql_users as ProxySQL 2.7 shows them: a row per role, each password as
        it was given. admin-hash_passwords is gone (issue #4218): __add_active_users hands
        MySQL_Authentication::add the password as stored, save_mysql_users_runtime_to_database
        writes ad->password back, and the mysql_users checksum (compute_accounts_hash) is
        computed over that same password."""
        return shown_users(self._tables["mysql_users"])

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
        """The servers a new backend connection may go to (MyHGC::get_random_MySrvC):
        ONLINE ones, automatically shunned ones coming back after the recovery time, or
        after a tenth of it when the hostgroup has nothing else (both as ProxySQL derives
        them, capped below connect_timeout_server_max so a waiting query sees a retry)."""
        recovery = self.int_variable("mysql-shun_recovery_time_sec")
        timeout_max = self.int_variable("mysql-connect_timeout_server_max")
        if recovery * 1000 >= timeout_max:
            wait, last_resort = timeout_max // 1000 - 1, timeout_max // 10000 - 1
        else:
            wait, last_resort = recovery, recovery // 10
        return self.server_table.candidates(
            hostgroup, int(time.time()), max(wait, 1) if recovery else 0, max(last_resort, 1)
        )

    # -- checksums -------------------------------------------------------------

    def _record_checksums(self, module: Module, *, loaded: bool,
                          epoch: int | None = None) -> None:
        for name in _CHECKSUM_NAMES[module]:
            self.checksums.record(name, config_checksum(self._checksum_rows(name)),
                                  loaded=loaded, epoch=epoch)

    def _checksum_rows(self, name: str) -> list[dict[str, Any]]:
        if name in ("admin_variables", "mysql_variables"):
            prefix = name.split("_", 1)[0] + "-"
            return [
                row for row in self.variable_rows()
                if str(row["variable_name"]).startswith(prefix)
                and row["variable_name"] not in NODE_LOCAL
            ]
        if name == "mysql_servers":
            # MYHGM_GEN_CLUSTER_ADMIN_RUNTIME_SERVERS: SHUNNED counts as ONLINE, OFFLINE_HARD
            # as absent, so the monitor's local shunning does not change the checksum.
            return [
                {**row, "status": "ONLINE" if row["status"] == SHUNNED else row["status"]}
                for row in self.servers() if row["status"] != OFFLINE_HARD
            ]
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


def shown_users(rows: Sequence[Row]) -> list[Row]:
    """mysql_users rows as RUNTIME shows them: a row with both roles becomes two."""
    shown: list[Row] = []
    for row in rows:
        if row["frontend"] and row["backend"]:
            shown.append({**row, "frontend": 1, "backend": 0})
            shown.append({**row, "frontend": 0, "backend": 1})
        else:
            shown.append(dict(row))
    return sorted(shown, key=lambda r: (r["username"], r["backend"]))
