"""Table definitions of the stand-in's admin database.

The CREATE TABLE texts are ProxySQL 2.7's own, so SQLite's CHECK constraint
messages ("CHECK constraint failed: hostgroup_id>=0") come out word for word
as a real ProxySQL prints them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

MYSQL_SERVERS: Final = (
    "CREATE TABLE mysql_servers (hostgroup_id INT CHECK (hostgroup_id>=0) NOT NULL DEFAULT 0 , "
    "hostname VARCHAR NOT NULL , "
    "port INT CHECK (port >= 0 AND port <= 65535) NOT NULL DEFAULT 3306 , "
    "gtid_port INT CHECK ((gtid_port <> port OR gtid_port=0) AND gtid_port >= 0 "
    "AND gtid_port <= 65535) NOT NULL DEFAULT 0 , "
    "status VARCHAR CHECK (UPPER(status) IN ('ONLINE','SHUNNED','OFFLINE_SOFT', 'OFFLINE_HARD')) "
    "NOT NULL DEFAULT 'ONLINE' , "
    "weight INT CHECK (weight >= 0 AND weight <=10000000) NOT NULL DEFAULT 1 , "
    "compression INT CHECK (compression IN(0,1)) NOT NULL DEFAULT 0 , "
    "max_connections INT CHECK (max_connections >=0) NOT NULL DEFAULT 1000 , "
    "max_replication_lag INT CHECK (max_replication_lag >= 0 AND max_replication_lag <= 126144000) "
    "NOT NULL DEFAULT 0 , "
    "use_ssl INT CHECK (use_ssl IN(0,1)) NOT NULL DEFAULT 0 , "
    "max_latency_ms INT UNSIGNED CHECK (max_latency_ms>=0) NOT NULL DEFAULT 0 , "
    "comment VARCHAR NOT NULL DEFAULT '' , "
    "PRIMARY KEY (hostgroup_id, hostname, port) )"
)

MYSQL_USERS: Final = (
    "CREATE TABLE mysql_users (username VARCHAR NOT NULL , password VARCHAR , "
    "active INT CHECK (active IN (0,1)) NOT NULL DEFAULT 1 , "
    "use_ssl INT CHECK (use_ssl IN (0,1)) NOT NULL DEFAULT 0 , "
    "default_hostgroup INT NOT NULL DEFAULT 0 , default_schema VARCHAR , "
    "schema_locked INT CHECK (schema_locked IN (0,1)) NOT NULL DEFAULT 0 , "
    "transaction_persistent INT CHECK (transaction_persistent IN (0,1)) NOT NULL DEFAULT 1 , "
    "fast_forward INT CHECK (fast_forward IN (0,1)) NOT NULL DEFAULT 0 , "
    "backend INT CHECK (backend IN (0,1)) NOT NULL DEFAULT 1 , "
    "frontend INT CHECK (frontend IN (0,1)) NOT NULL DEFAULT 1 , "
    "max_connections INT CHECK (max_connections >=0) NOT NULL DEFAULT 10000 , "
    "attributes VARCHAR CHECK (JSON_VALID(attributes) OR attributes = '') NOT NULL DEFAULT '' , "
    "comment VARCHAR NOT NULL DEFAULT '' , "
    "PRIMARY KEY (username, backend) , UNIQUE (username, frontend))"
)

MYSQL_REPLICATION_HOSTGROUPS: Final = (
    "CREATE TABLE mysql_replication_hostgroups ("
    "writer_hostgroup INT CHECK (writer_hostgroup>=0) NOT NULL PRIMARY KEY , "
    "reader_hostgroup INT NOT NULL CHECK (reader_hostgroup<>writer_hostgroup "
    "AND reader_hostgroup>=0) , "
    "check_type VARCHAR CHECK (LOWER(check_type) IN ('read_only','innodb_read_only',"
    "'super_read_only','read_only|innodb_read_only','read_only&innodb_read_only')) "
    "NOT NULL DEFAULT 'read_only' , "
    "comment VARCHAR NOT NULL DEFAULT '', UNIQUE (reader_hostgroup))"
)

MYSQL_GROUP_REPLICATION_HOSTGROUPS: Final = (
    "CREATE TABLE mysql_group_replication_hostgroups ("
    "writer_hostgroup INT CHECK (writer_hostgroup>=0) NOT NULL PRIMARY KEY , "
    "backup_writer_hostgroup INT CHECK (backup_writer_hostgroup>=0 "
    "AND backup_writer_hostgroup<>writer_hostgroup) NOT NULL , "
    "reader_hostgroup INT NOT NULL CHECK (reader_hostgroup<>writer_hostgroup "
    "AND backup_writer_hostgroup<>reader_hostgroup AND reader_hostgroup>0) , "
    "offline_hostgroup INT NOT NULL CHECK (offline_hostgroup<>writer_hostgroup "
    "AND offline_hostgroup<>reader_hostgroup AND backup_writer_hostgroup<>offline_hostgroup "
    "AND offline_hostgroup>=0) , "
    "active INT CHECK (active IN (0,1)) NOT NULL DEFAULT 1 , "
    "max_writers INT NOT NULL CHECK (max_writers >= 0) DEFAULT 1 , "
    "writer_is_also_reader INT CHECK (writer_is_also_reader IN (0,1,2)) NOT NULL DEFAULT 0 , "
    "max_transactions_behind INT CHECK (max_transactions_behind>=0) NOT NULL DEFAULT 0 , "
    "comment VARCHAR , UNIQUE (reader_hostgroup) , UNIQUE (offline_hostgroup) , "
    "UNIQUE (backup_writer_hostgroup))"
)

MYSQL_GALERA_HOSTGROUPS: Final = MYSQL_GROUP_REPLICATION_HOSTGROUPS.replace(
    "mysql_group_replication_hostgroups", "mysql_galera_hostgroups"
)

MYSQL_AWS_AURORA_HOSTGROUPS: Final = (
    "CREATE TABLE mysql_aws_aurora_hostgroups ("
    "writer_hostgroup INT CHECK (writer_hostgroup>=0) NOT NULL PRIMARY KEY , "
    "reader_hostgroup INT NOT NULL CHECK (reader_hostgroup<>writer_hostgroup "
    "AND reader_hostgroup>0) , "
    "active INT CHECK (active IN (0,1)) NOT NULL DEFAULT 1 , "
    "aurora_port INT NOT NUlL DEFAULT 3306 , "
    "domain_name VARCHAR NOT NULL CHECK (SUBSTR(domain_name,1,1) = '.') , "
    "max_lag_ms INT NOT NULL CHECK (max_lag_ms>= 10 AND max_lag_ms <= 600000) DEFAULT 600000 , "
    "check_interval_ms INT NOT NULL CHECK (check_interval_ms >= 100 "
    "AND check_interval_ms <= 600000) DEFAULT 1000 , "
    "check_timeout_ms INT NOT NULL CHECK (check_timeout_ms >= 80 "
    "AND check_timeout_ms <= 3000) DEFAULT 800 , "
    "writer_is_also_reader INT CHECK (writer_is_also_reader IN (0,1)) NOT NULL DEFAULT 0 , "
    "new_reader_weight INT CHECK (new_reader_weight >= 0 AND new_reader_weight <=10000000) "
    "NOT NULL DEFAULT 1 , "
    "add_lag_ms INT NOT NULL CHECK (add_lag_ms >= 0 AND add_lag_ms <= 600000) DEFAULT 30 , "
    "min_lag_ms INT NOT NULL CHECK (min_lag_ms >= 0 AND min_lag_ms <= 600000) DEFAULT 30 , "
    "lag_num_checks INT NOT NULL CHECK (lag_num_checks >= 1 AND lag_num_checks <= 16) "
    "DEFAULT 1 , "
    "comment VARCHAR , UNIQUE (reader_hostgroup))"
)

MYSQL_HOSTGROUP_ATTRIBUTES: Final = (
    "CREATE TABLE mysql_hostgroup_attributes (hostgroup_id INT NOT NULL PRIMARY KEY , "
    "max_num_online_servers INT CHECK (max_num_online_servers>=0 "
    "AND max_num_online_servers <= 1000000) NOT NULL DEFAULT 1000000 , "
    "autocommit INT CHECK (autocommit IN (-1, 0, 1)) NOT NULL DEFAULT -1 , "
    "free_connections_pct INT CHECK (free_connections_pct >= 0 AND free_connections_pct <= 100) "
    "NOT NULL DEFAULT 10 , "
    "init_connect VARCHAR NOT NULL DEFAULT '' , "
    "multiplex INT CHECK (multiplex IN (0, 1)) NOT NULL DEFAULT 1 , "
    "connection_warming INT CHECK (connection_warming IN (0, 1)) NOT NULL DEFAULT 0 , "
    "throttle_connections_per_sec INT CHECK (throttle_connections_per_sec >= 1 "
    "AND throttle_connections_per_sec <= 1000000) NOT NULL DEFAULT 1000000 , "
    "ignore_session_variables VARCHAR CHECK (JSON_VALID(ignore_session_variables) "
    "OR ignore_session_variables = '') NOT NULL DEFAULT '' , "
    "hostgroup_settings VARCHAR CHECK (JSON_VALID(hostgroup_settings) "
    "OR hostgroup_settings = '') NOT NULL DEFAULT '' , "
    "servers_defaults VARCHAR CHECK (JSON_VALID(servers_defaults) OR servers_defaults = '') "
    "NOT NULL DEFAULT '' , "
    "comment VARCHAR NOT NULL DEFAULT '')"
)

MYSQL_SERVERS_SSL_PARAMS: Final = (
    "CREATE TABLE mysql_servers_ssl_params (hostname VARCHAR NOT NULL , "
    "port INT CHECK (port >= 0 AND port <= 65535) NOT NULL DEFAULT 3306 , "
    "username VARCHAR NOT NULL DEFAULT '' , ssl_ca VARCHAR NOT NULL DEFAULT '' , "
    "ssl_cert VARCHAR NOT NULL DEFAULT '' , ssl_key VARCHAR NOT NULL DEFAULT '' , "
    "ssl_capath VARCHAR NOT NULL DEFAULT '' , ssl_crl VARCHAR NOT NULL DEFAULT '' , "
    "ssl_crlpath VARCHAR NOT NULL DEFAULT '' , ssl_cipher VARCHAR NOT NULL DEFAULT '' , "
    "tls_version VARCHAR NOT NULL DEFAULT '' , comment VARCHAR NOT NULL DEFAULT '' , "
    "PRIMARY KEY (hostname, port, username) )"
)

MYSQL_QUERY_RULES: Final = (
    "CREATE TABLE mysql_query_rules (rule_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL , "
    "active INT CHECK (active IN (0,1)) NOT NULL DEFAULT 0 , username VARCHAR , "
    "schemaname VARCHAR , flagIN INT CHECK (flagIN >= 0) NOT NULL DEFAULT 0 , "
    "client_addr VARCHAR , proxy_addr VARCHAR , "
    "proxy_port INT CHECK (proxy_port >= 0 AND proxy_port <= 65535) , digest VARCHAR , "
    "match_digest VARCHAR , match_pattern VARCHAR , "
    "negate_match_pattern INT CHECK (negate_match_pattern IN (0,1)) NOT NULL DEFAULT 0 , "
    "re_modifiers VARCHAR DEFAULT 'CASELESS' , flagOUT INT CHECK (flagOUT >= 0) , "
    "replace_pattern VARCHAR CHECK(CASE WHEN replace_pattern IS NULL THEN 1 "
    "WHEN replace_pattern IS NOT NULL AND match_pattern IS NOT NULL THEN 1 ELSE 0 END) , "
    "destination_hostgroup INT DEFAULT NULL , cache_ttl INT CHECK(cache_ttl > 0) , "
    "cache_empty_result INT CHECK (cache_empty_result IN (0,1)) DEFAULT NULL , "
    "cache_timeout INT CHECK(cache_timeout >= 0) , "
    "reconnect INT CHECK (reconnect IN (0,1)) DEFAULT NULL , "
    "timeout INT UNSIGNED CHECK (timeout >= 0) , "
    "retries INT CHECK (retries>=0 AND retries <=1000) , "
    "delay INT UNSIGNED CHECK (delay >=0) , next_query_flagIN INT UNSIGNED , "
    "mirror_flagOUT INT UNSIGNED , mirror_hostgroup INT UNSIGNED , error_msg VARCHAR , "
    "OK_msg VARCHAR , sticky_conn INT CHECK (sticky_conn IN (0,1)) , "
    "multiplex INT CHECK (multiplex IN (0,1,2)) , gtid_from_hostgroup INT UNSIGNED , "
    "log INT CHECK (log IN (0,1)) , apply INT CHECK(apply IN (0,1)) NOT NULL DEFAULT 0 , "
    "attributes VARCHAR CHECK (JSON_VALID(attributes) OR attributes = '') NOT NULL DEFAULT '' , "
    "comment VARCHAR)"
)

MYSQL_QUERY_RULES_FAST_ROUTING: Final = (
    "CREATE TABLE mysql_query_rules_fast_routing (username VARCHAR NOT NULL , "
    "schemaname VARCHAR NOT NULL , flagIN INT NOT NULL DEFAULT 0 , "
    "destination_hostgroup INT CHECK (destination_hostgroup >= 0) NOT NULL , "
    "comment VARCHAR NOT NULL , PRIMARY KEY (username, schemaname, flagIN) )"
)

GLOBAL_VARIABLES: Final = (
    "CREATE TABLE global_variables (variable_name VARCHAR NOT NULL PRIMARY KEY , "
    "variable_value VARCHAR NOT NULL)"
)

PROXYSQL_SERVERS: Final = (
    "CREATE TABLE proxysql_servers (hostname VARCHAR NOT NULL , "
    "port INT NOT NULL DEFAULT 6032 , weight INT CHECK (weight >= 0) NOT NULL DEFAULT 0 , "
    "comment VARCHAR NOT NULL DEFAULT '' , PRIMARY KEY (hostname, port) )"
)

SCHEDULER: Final = (
    "CREATE TABLE scheduler (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL , "
    "active INT CHECK (active IN (0,1)) NOT NULL DEFAULT 1 , "
    "interval_ms INTEGER CHECK (interval_ms>=100 AND interval_ms<=100000000) NOT NULL , "
    "filename VARCHAR NOT NULL , arg1 VARCHAR , arg2 VARCHAR , arg3 VARCHAR , arg4 VARCHAR , "
    "arg5 VARCHAR , comment VARCHAR NOT NULL DEFAULT '')"
)

RUNTIME_CHECKSUMS_VALUES: Final = (
    "CREATE TABLE runtime_checksums_values (name VARCHAR NOT NULL , version INT NOT NULL , "
    "epoch INT NOT NULL , checksum VARCHAR NOT NULL , PRIMARY KEY (name))"
)

MONITOR_CONNECT_LOG: Final = (
    "CREATE TABLE mysql_server_connect_log ( hostname VARCHAR NOT NULL , "
    "port INT NOT NULL DEFAULT 3306 , time_start_us INT NOT NULL DEFAULT 0 , "
    "connect_success_time_us INT DEFAULT 0 , connect_error VARCHAR , "
    "PRIMARY KEY (hostname, port, time_start_us))"
)

MONITOR_READ_ONLY_LOG: Final = (
    "CREATE TABLE mysql_server_read_only_log ( hostname VARCHAR NOT NULL , "
    "port INT NOT NULL DEFAULT 3306 , time_start_us INT NOT NULL DEFAULT 0 , "
    "success_time_us INT DEFAULT 0 , read_only INT DEFAULT 1 , error VARCHAR , "
    "PRIMARY KEY (hostname, port, time_start_us))"
)

MONITOR_PING_LOG: Final = (
    "CREATE TABLE mysql_server_ping_log ( hostname VARCHAR NOT NULL , "
    "port INT NOT NULL DEFAULT 3306 , time_start_us INT NOT NULL DEFAULT 0 , "
    "ping_success_time_us INT DEFAULT 0 , ping_error VARCHAR , "
    "PRIMARY KEY (hostname, port, time_start_us))"
)

#: include/MySQL_Monitor.hpp MONITOR_SQLITE_TABLE_MYSQL_SERVER_REPLICATION_LAG_LOG.
MONITOR_REPLICATION_LAG_LOG: Final = (
    "CREATE TABLE mysql_server_replication_lag_log ( hostname VARCHAR NOT NULL , "
    "port INT NOT NULL DEFAULT 3306 , time_start_us INT NOT NULL DEFAULT 0 , "
    "success_time_us INT DEFAULT 0 , repl_lag INT DEFAULT 0 , error VARCHAR , "
    "PRIMARY KEY (hostname, port, time_start_us))"
)

STATS_MYSQL_CONNECTION_POOL: Final = (
    "CREATE TABLE stats_mysql_connection_pool (hostgroup INT , srv_host VARCHAR , "
    "srv_port INT , status VARCHAR , ConnUsed INT , ConnFree INT , ConnOK INT , ConnERR INT , "
    "MaxConnUsed INT , Queries INT , Queries_GTID_sync INT , Bytes_data_sent INT , "
    "Bytes_data_recv INT , Latency_us INT)"
)

#: lib/ProxySQL_Admin.cpp STATS_SQLITE_TABLE_PROXYSQL_SERVERS_CHECKSUMS.
STATS_PROXYSQL_SERVERS_CHECKSUMS: Final = (
    "CREATE TABLE stats_proxysql_servers_checksums (hostname VARCHAR NOT NULL , "
    "port INT NOT NULL DEFAULT 6032 , name VARCHAR NOT NULL , version INT NOT NULL , "
    "epoch INT NOT NULL , checksum VARCHAR NOT NULL , changed_at INT NOT NULL , "
    "updated_at INT NOT NULL , diff_check INT NOT NULL , "
    "PRIMARY KEY (hostname, port, name) )"
)

#: Configuration tables: they exist in MEMORY (main) and DISK, and have a
#: ``runtime_`` twin in main that is regenerated whenever a query mentions it.
CONFIG_TABLES: Final[Mapping[str, str]] = {
    "mysql_servers": MYSQL_SERVERS,
    "mysql_replication_hostgroups": MYSQL_REPLICATION_HOSTGROUPS,
    "mysql_group_replication_hostgroups": MYSQL_GROUP_REPLICATION_HOSTGROUPS,
    "mysql_galera_hostgroups": MYSQL_GALERA_HOSTGROUPS,
    "mysql_aws_aurora_hostgroups": MYSQL_AWS_AURORA_HOSTGROUPS,
    "mysql_hostgroup_attributes": MYSQL_HOSTGROUP_ATTRIBUTES,
    "mysql_servers_ssl_params": MYSQL_SERVERS_SSL_PARAMS,
    "mysql_users": MYSQL_USERS,
    "mysql_query_rules": MYSQL_QUERY_RULES,
    "mysql_query_rules_fast_routing": MYSQL_QUERY_RULES_FAST_ROUTING,
    "global_variables": GLOBAL_VARIABLES,
    "proxysql_servers": PROXYSQL_SERVERS,
    "scheduler": SCHEDULER,
}

MONITOR_TABLES: Final[Mapping[str, str]] = {
    "mysql_server_ping_log": MONITOR_PING_LOG,
    "mysql_server_connect_log": MONITOR_CONNECT_LOG,
    "mysql_server_read_only_log": MONITOR_READ_ONLY_LOG,
    "mysql_server_replication_lag_log": MONITOR_REPLICATION_LAG_LOG,
}

#: Tables of the ``stats`` database, regenerated whenever a query mentions them.
STATS_TABLES: Final[Mapping[str, str]] = {
    "stats_mysql_connection_pool": STATS_MYSQL_CONNECTION_POOL,
    "stats_proxysql_servers_checksums": STATS_PROXYSQL_SERVERS_CHECKSUMS,
}

#: The databases a real ProxySQL admin shows, in its order. ``disk`` is a file,
#: the others live in memory here.
DATABASES: Final = ("main", "disk", "stats", "monitor", "stats_history")

_CREATE_TABLE = re.compile(r"^CREATE TABLE (\w+)")


def create_statement(ddl: str, *, schema: str = "main", name: str | None = None) -> str:
    """Return ``ddl`` creating its table in ``schema`` (optionally renamed), if missing."""
    match = _CREATE_TABLE.match(ddl)
    if match is None:
        raise ValueError(f"not a CREATE TABLE statement: {ddl[:40]}")
    table = name or match.group(1)
    return f"CREATE TABLE IF NOT EXISTS {schema}.{table}{ddl[match.end():]}"


def runtime_table(table: str) -> str:
    """Name of the ``runtime_`` twin of a configuration table."""
    return f"runtime_{table}"
