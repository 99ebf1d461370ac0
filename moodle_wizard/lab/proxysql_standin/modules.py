"""The configuration modules that LOAD/SAVE move between the three layers."""

from __future__ import annotations

import enum


class Module(enum.Enum):
    """A LOAD/SAVE module, valued by the words a command names it with."""

    MYSQL_SERVERS = "MYSQL SERVERS"
    MYSQL_USERS = "MYSQL USERS"
    MYSQL_QUERY_RULES = "MYSQL QUERY RULES"
    MYSQL_VARIABLES = "MYSQL VARIABLES"
    ADMIN_VARIABLES = "ADMIN VARIABLES"
    PROXYSQL_SERVERS = "PROXYSQL SERVERS"
    SCHEDULER = "SCHEDULER"

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables a copy of this module replaces (variables: see ``variable_prefix``)."""
        return _TABLES[self]

    @property
    def variable_prefix(self) -> str | None:
        """For the two variables modules, the prefix of their ``global_variables`` rows."""
        return _VARIABLE_PREFIX.get(self)


_TABLES: dict[Module, tuple[str, ...]] = {
    Module.MYSQL_SERVERS: (
        "mysql_servers",
        "mysql_replication_hostgroups",
        "mysql_group_replication_hostgroups",
        "mysql_galera_hostgroups",
        "mysql_aws_aurora_hostgroups",
        "mysql_hostgroup_attributes",
        "mysql_servers_ssl_params",
    ),
    Module.MYSQL_USERS: ("mysql_users",),
    Module.MYSQL_QUERY_RULES: ("mysql_query_rules", "mysql_query_rules_fast_routing"),
    Module.MYSQL_VARIABLES: ("global_variables",),
    Module.ADMIN_VARIABLES: ("global_variables",),
    Module.PROXYSQL_SERVERS: ("proxysql_servers",),
    Module.SCHEDULER: ("scheduler",),
}

_VARIABLE_PREFIX: dict[Module, str] = {
    Module.MYSQL_VARIABLES: "mysql-",
    Module.ADMIN_VARIABLES: "admin-",
}

#: Order in which a (re)start loads the modules into RUNTIME: variables first,
#: because loading users needs the admin credentials.
STARTUP_ORDER: tuple[Module, ...] = (
    Module.ADMIN_VARIABLES,
    Module.MYSQL_VARIABLES,
    Module.MYSQL_SERVERS,
    Module.MYSQL_USERS,
    Module.MYSQL_QUERY_RULES,
    Module.PROXYSQL_SERVERS,
    Module.SCHEDULER,
)


class Layer(enum.Enum):
    MEMORY = "memory"
    RUNTIME = "runtime"
    DISK = "disk"
