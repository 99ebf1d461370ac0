"""SQL and tool differences between MariaDB 10.6/10.11/11.4 and MySQL 8.0.22/8.0.36/8.4.

The statement texts are checked against the syntax in the MariaDB KB and the MySQL 8.0/8.4
reference manuals (the MariaDB 10.11 texts were also run against a real 10.11 server).
"""

from __future__ import annotations

import re

import pytest

from moodle_wizard.core.render.proxysql import proxysql_lag_warning
from moodle_wizard.core.sql.accounts import copy_account_statements
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.parsers import (
    BINLOG_INFO_FILENAMES,
    normalize_replica_status,
    parse_binlog_info,
)
from moodle_wizard.core.sql.quoting import quote_identifier
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.sql.version import (
    Flavor,
    ServerVersion,
    UnsupportedServerError,
    parse_version,
)

VERSIONS = {
    "mariadb-10.6": ("10.6.18-MariaDB-0ubuntu0.22.04.1", "Ubuntu 22.04"),
    "mariadb-10.11": ("10.11.19-MariaDB-0+deb12u1", "Debian 12"),
    "mariadb-11.4": ("11.4.3-MariaDB", "MariaDB Server"),
    "mysql-8.0.22": ("8.0.22", "MySQL Community Server - GPL"),
    "mysql-8.0.36": ("8.0.36-0ubuntu0.22.04.1", "(Ubuntu)"),
    "mysql-8.4": ("8.4.2", "MySQL Community Server - GPL"),
}


def dialect(name: str) -> Dialect:
    return Dialect(parse_version(*VERSIONS[name]))


@pytest.mark.parametrize(
    ("version", "comment", "expected"),
    [
        ("10.11.19-MariaDB-0+deb12u1", "Debian 12", (Flavor.MARIADB, 10, 11, 19)),
        ("11.4.3-MariaDB", "", (Flavor.MARIADB, 11, 4, 3)),
        ("5.5.5-10.6.18-MariaDB-log", "", (Flavor.MARIADB, 10, 6, 18)),
        ("10.6.5", "mariadb.org binary distribution", (Flavor.MARIADB, 10, 6, 5)),
        ("8.0.36", "MySQL Community Server - GPL", (Flavor.MYSQL, 8, 0, 36)),
        ("8.4.2", "", (Flavor.MYSQL, 8, 4, 2)),
        ("8.0.36-28", "Percona Server (GPL), Release 28", (Flavor.MYSQL, 8, 0, 36)),
    ],
)
def test_parse_version(version: str, comment: str, expected: tuple[object, ...]) -> None:
    parsed = parse_version(version, comment)
    assert (parsed.flavor, parsed.major, parsed.minor, parsed.patch) == expected


def test_parse_version_refuses_garbage_and_old_servers() -> None:
    with pytest.raises(UnsupportedServerError):
        parse_version("", "")
    with pytest.raises(UnsupportedServerError):
        parse_version("MariaDB", "")
    # 10.4 and before: no dialect (other tool names and privileges); the message says what is.
    for old in ("10.2.44-MariaDB", "10.4.33-MariaDB"):
        with pytest.raises(UnsupportedServerError, match=r"supports MariaDB 10\.5 to 11\.8"):
            Dialect(parse_version(old))
    with pytest.raises(UnsupportedServerError, match=r"MySQL 8\.0 or later"):
        Dialect(parse_version("5.7.44", "MySQL Community Server"))


def test_version_ordering() -> None:
    v = parse_version("8.0.23")
    assert v.at_least(8, 0, 23) and not v.at_least(8, 0, 24) and v.at_least(8)
    assert str(parse_version("10.11.6-MariaDB")) == "MariaDB 10.11.6"


EXPECTED = {
    # name: (show status, start, stop, reset all, gtid statements)
    "mariadb-10.6": (
        "SHOW SLAVE STATUS",
        "START SLAVE",
        "STOP SLAVE",
        "RESET SLAVE ALL",
        ["SET GLOBAL gtid_slave_pos = %s"],
    ),
    "mariadb-10.11": (
        "SHOW SLAVE STATUS",
        "START SLAVE",
        "STOP SLAVE",
        "RESET SLAVE ALL",
        ["SET GLOBAL gtid_slave_pos = %s"],
    ),
    "mariadb-11.4": (
        "SHOW SLAVE STATUS",
        "START SLAVE",
        "STOP SLAVE",
        "RESET SLAVE ALL",
        ["SET GLOBAL gtid_slave_pos = %s"],
    ),
    "mysql-8.0.22": (
        "SHOW REPLICA STATUS",
        "START REPLICA",
        "STOP REPLICA",
        "RESET REPLICA ALL",
        ["RESET MASTER", "SET GLOBAL gtid_purged = %s"],
    ),
    "mysql-8.0.36": (
        "SHOW REPLICA STATUS",
        "START REPLICA",
        "STOP REPLICA",
        "RESET REPLICA ALL",
        ["RESET MASTER", "SET GLOBAL gtid_purged = %s"],
    ),
    "mysql-8.4": (
        "SHOW REPLICA STATUS",
        "START REPLICA",
        "STOP REPLICA",
        "RESET REPLICA ALL",
        ["RESET BINARY LOGS AND GTIDS", "SET GLOBAL gtid_purged = %s"],
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_replication_control(name: str) -> None:
    d = dialect(name)
    show, start, stop, reset, gtid = EXPECTED[name]
    assert d.show_replica_status().sql == show
    assert d.start_replica().sql == start
    assert d.stop_replica().sql == stop
    assert d.reset_replica_all().sql == reset
    gtid_statements = d.set_gtid_position("0-1-27")
    assert [s.sql for s in gtid_statements] == gtid
    assert gtid_statements[-1].params == ("0-1-27",)


def test_older_mysql_8_0_uses_the_slave_words() -> None:
    d = Dialect(parse_version("8.0.21"))
    assert d.show_replica_status().sql == "SHOW SLAVE STATUS"
    assert d.reset_replica_all().sql == "RESET SLAVE ALL"
    assert d.change_source("h", 3306, "u", "p").sql.startswith("CHANGE MASTER TO MASTER_HOST=%s")
    assert (
        "MASTER_AUTO_POSITION=1, GET_MASTER_PUBLIC_KEY=1" in d.change_source("h", 1, "u", "p").sql
    )


CHANGE_SOURCE = {
    "mariadb-10.6": "CHANGE MASTER TO MASTER_HOST='10.0.0.11', MASTER_PORT=3306, "
    "MASTER_USER='repl', MASTER_PASSWORD='********', MASTER_USE_GTID=slave_pos",
    "mariadb-11.4": "CHANGE MASTER TO MASTER_HOST='10.0.0.11', MASTER_PORT=3306, "
    "MASTER_USER='repl', MASTER_PASSWORD='********', MASTER_USE_GTID=slave_pos",
    # 8.0.22 has SHOW REPLICA STATUS but CHANGE REPLICATION SOURCE only arrives in 8.0.23.
    "mysql-8.0.22": "CHANGE MASTER TO MASTER_HOST='10.0.0.11', MASTER_PORT=3306, "
    "MASTER_USER='repl', MASTER_PASSWORD='********', MASTER_AUTO_POSITION=1, "
    "GET_MASTER_PUBLIC_KEY=1",
    "mysql-8.0.36": "CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.0.0.11', SOURCE_PORT=3306, "
    "SOURCE_USER='repl', SOURCE_PASSWORD='********', SOURCE_AUTO_POSITION=1, "
    "GET_SOURCE_PUBLIC_KEY=1",
    "mysql-8.4": "CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.0.0.11', SOURCE_PORT=3306, "
    "SOURCE_USER='repl', SOURCE_PASSWORD='********', SOURCE_AUTO_POSITION=1, "
    "GET_SOURCE_PUBLIC_KEY=1",
}


@pytest.mark.parametrize("name", sorted(CHANGE_SOURCE))
def test_change_source(name: str) -> None:
    stmt = dialect(name).change_source("10.0.0.11", 3306, "repl", "s3cr'et")
    assert stmt.params == ("10.0.0.11", 3306, "repl", "s3cr'et")
    assert stmt.display() == CHANGE_SOURCE[name]
    assert "s3cr" not in stmt.display()
    with pytest.raises(ValueError, match="port"):
        dialect(name).change_source("h", 0, "u", "p")


PRIVILEGES = {
    "mariadb-10.6": ("REPLICATION REPLICA", "SLAVE MONITOR"),
    "mariadb-10.11": ("REPLICATION REPLICA", "SLAVE MONITOR"),
    "mariadb-11.4": ("REPLICATION REPLICA", "SLAVE MONITOR"),
    # MySQL has no REPLICATION REPLICA privilege, not even 8.4.
    "mysql-8.0.22": ("REPLICATION SLAVE", "REPLICATION CLIENT"),
    "mysql-8.0.36": ("REPLICATION SLAVE", "REPLICATION CLIENT"),
    "mysql-8.4": ("REPLICATION SLAVE", "REPLICATION CLIENT"),
}


@pytest.mark.parametrize("name", sorted(PRIVILEGES))
def test_accounts(name: str) -> None:
    d = dialect(name)
    replication, monitor = PRIVILEGES[name]
    assert d.grant_replication("repl", "10.0.0.%").sql == f"GRANT {replication} ON *.* TO %s@%s"
    assert d.grant_monitor("mon", "10.0.0.%").sql == f"GRANT {monitor} ON *.* TO %s@%s"
    create = d.create_user("repl", "10.0.0.%", "pw")
    by = "BY PASSWORD" if d.version.is_mariadb else "BY"
    assert create.sql == f"CREATE USER IF NOT EXISTS %s@%s IDENTIFIED {by} %s"
    assert (
        create.display() == f"CREATE USER IF NOT EXISTS 'repl'@'10.0.0.%' IDENTIFIED {by} "
        "'********'"
    )
    if d.version.is_mariadb:  # never the cleartext (MariaDB logs the statement as sent)
        assert "pw" not in create.params
        assert d.alter_user_password("u", "h", "pw").params[2].startswith("*")
    assert d.drop_user("repl", "10.0.0.%").sql == "DROP USER IF EXISTS %s@%s"
    assert d.alter_user_password("u", "h", "x").secret == frozenset({2})
    grant = d.grant_select("moo`dle", "ro", "%")
    assert grant.sql == "GRANT SELECT ON `moo``dle`.* TO %s@%s"


def test_monitor_privilege_before_10_5_9() -> None:
    # SLAVE MONITOR arrived in 10.5.9; 10.5.2-10.5.8 read replica status with REPLICATION
    # SLAVE ADMIN (MariaDB KB, GRANT).
    assert Dialect(parse_version("10.5.4-MariaDB")).monitor_privilege() == "REPLICATION SLAVE ADMIN"
    assert Dialect(parse_version("10.5.8-MariaDB")).monitor_privilege() == "REPLICATION SLAVE ADMIN"
    assert Dialect(parse_version("10.5.9-MariaDB")).monitor_privilege() == "SLAVE MONITOR"
    # REPLICATION REPLICA is an alias from 10.5.1 only.
    assert Dialect(parse_version("10.5.0-MariaDB")).replication_privilege() == "REPLICATION SLAVE"
    assert Dialect(parse_version("10.5.1-MariaDB")).replication_privilege() == (
        "REPLICATION REPLICA")


def test_create_user_with_plugin() -> None:
    mysql = dialect("mysql-8.4").create_user("mon", "%", "pw", auth_plugin="caching_sha2_password")
    assert mysql.sql == (
        "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED WITH caching_sha2_password BY %s"
    )
    maria = dialect("mariadb-10.11").create_user("mon", "%", "pw", auth_plugin="ed25519")
    assert maria.sql == "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED VIA ed25519 USING PASSWORD(%s)"
    with pytest.raises(ValueError, match="plugin"):
        dialect("mysql-8.4").create_user("mon", "%", "pw", auth_plugin="x; DROP")


def _all_statements(d: Dialect) -> list[Statement]:
    return [
        d.show_replica_status(),
        d.start_replica(),
        d.stop_replica(),
        d.reset_replica_all(),
        d.change_source("h", 3306, "u", "p"),
        *d.set_gtid_position("0-1-1"),
        d.show_binlog_status(),
        d.disable_session_binlog(),
        *d.set_read_only(True),
        *d.set_read_only(False),
        d.create_user("u", "h", "p"),
        d.alter_user_password("u", "h", "p"),
        d.drop_user("u", "h"),
        d.grant_replication("u", "h"),
        d.grant_monitor("u", "h"),
        d.grant_select("db", "u", "h"),
        d.show_grants("u", "h"),
        *d.prepare_show_create_user(),
        d.show_create_user("u", "h"),
    ]


@pytest.mark.parametrize("name", sorted(VERSIONS))
def test_placeholders_match_parameters(name: str) -> None:
    for stmt in _all_statements(dialect(name)):
        assert stmt.sql.count("%s") == len(stmt.params), stmt.sql
        assert "%" not in stmt.sql.replace("%s", ""), stmt.sql
        assert (stmt.args is None) == (not stmt.params)
        assert all(i < len(stmt.params) for i in stmt.secret)


def test_misc_statements() -> None:
    assert dialect("mysql-8.4").show_binlog_status().sql == "SHOW BINARY LOG STATUS"
    assert dialect("mysql-8.0.36").show_binlog_status().sql == "SHOW MASTER STATUS"
    assert dialect("mariadb-11.4").show_binlog_status().sql == "SHOW MASTER STATUS"
    assert [s.sql for s in dialect("mysql-8.4").set_read_only(False)] == [
        "SET GLOBAL super_read_only = OFF",
        "SET GLOBAL read_only = OFF",
    ]
    assert [s.sql for s in dialect("mariadb-10.11").set_read_only(True)] == [
        "SET GLOBAL read_only = ON"
    ]
    assert dialect("mariadb-10.11").prepare_show_create_user() == []
    assert [s.sql for s in dialect("mysql-8.0.36").prepare_show_create_user()] == [
        "SET SESSION print_identified_with_as_hex = ON"
    ]
    with pytest.raises(ValueError):
        dialect("mariadb-10.11").set_gtid_position("  ")


def test_quote_identifier() -> None:
    assert quote_identifier("moodle") == "`moodle`"
    assert quote_identifier("a`b``c") == "`a``b````c`"
    for bad in ("", "a\x00b"):
        with pytest.raises(ValueError):
            quote_identifier(bad)


TOOLS = {
    "mariadb-10.6": ("mariadb", "mariadb-backup", "mbstream", "mariadb-dump", "--master-data=2"),
    "mariadb-10.11": ("mariadb", "mariadb-backup", "mbstream", "mariadb-dump", "--master-data=2"),
    "mariadb-11.4": ("mariadb", "mariadb-backup", "mbstream", "mariadb-dump", "--master-data=2"),
    "mysql-8.0.22": ("mysql", "xtrabackup", "xbstream", "mysqldump", "--master-data=2"),
    "mysql-8.0.36": ("mysql", "xtrabackup", "xbstream", "mysqldump", "--source-data=2"),
    "mysql-8.4": ("mysql", "xtrabackup", "xbstream", "mysqldump", "--source-data=2"),
}


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_tools(name: str) -> None:
    d = dialect(name)
    client, backup, extract, dump, position = TOOLS[name]
    assert d.client_binary() == client
    assert (d.backup_tools().backup, d.backup_tools().extract) == (backup, extract)
    tool = d.dump_tool()
    assert tool.binary == dump
    assert "--single-transaction" in tool.options and position in tool.options
    assert ("--gtid" in tool.options) is d.version.is_mariadb
    assert ("--set-gtid-purged=ON" in tool.options) is (not d.version.is_mariadb)


def test_old_mariadb_tool_names() -> None:
    # The mariadb-* names arrived in 10.5.2 (the old names became symlinks, gone in 11.x).
    d = Dialect(parse_version("10.5.1-MariaDB"))
    assert d.backup_tools().backup == "mariabackup"
    assert d.dump_tool().binary == "mysqldump"
    assert d.client_binary() == "mysql"
    d = Dialect(parse_version("10.5.2-MariaDB"))
    assert (d.backup_tools().backup, d.dump_tool().binary, d.client_binary()) == (
        "mariadb-backup", "mariadb-dump", "mariadb")


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("mariadb-10.6", "xtrabackup_binlog_info"),
        ("mariadb-10.11", "xtrabackup_binlog_info"),
        ("mariadb-11.4", "mariadb_backup_binlog_info"),
        ("mysql-8.0.36", "xtrabackup_binlog_info"),
        ("mysql-8.4", "xtrabackup_binlog_info"),
    ],
)
def test_binlog_info_filename(name: str, filename: str) -> None:
    assert dialect(name).binlog_info_filename() == filename
    assert filename in BINLOG_INFO_FILENAMES


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("mysql-bin.000003\t385\t0-1-27\n", ("mysql-bin.000003", 385, "0-1-27")),
        ("bin.000012\t1024\t0-1-27,1-2-5\n", ("bin.000012", 1024, "0-1-27,1-2-5")),
        (
            "binlog.000002\t1232\tc777888a-b6df-11e2-a604-080027635ef5:1-4,\n"
            "d1a6d2d6-4f3c-11e2-9a8e-080027635ef5:1-10\n",
            (
                "binlog.000002",
                1232,
                "c777888a-b6df-11e2-a604-080027635ef5:1-4,"
                "d1a6d2d6-4f3c-11e2-9a8e-080027635ef5:1-10",
            ),
        ),
        ("mysql-bin.000001\t4\n", ("mysql-bin.000001", 4, None)),
        ("mysql-bin.000001\t4\t\n", ("mysql-bin.000001", 4, None)),
        ("mysql-bin.000001 4 0-1-3\n", ("mysql-bin.000001", 4, "0-1-3")),
    ],
)
def test_parse_binlog_info(content: str, expected: tuple[object, ...]) -> None:
    info = parse_binlog_info(content)
    assert (info.file, info.position, info.gtid) == expected


@pytest.mark.parametrize("content", ["", "\n", "mysql-bin.000001", "bin.1\tnope\t0-1-1"])
def test_parse_binlog_info_errors(content: str) -> None:
    with pytest.raises(ValueError):
        parse_binlog_info(content)


# Column names as MariaDB 10.11 returns them (taken from a real server), trimmed.
MARIADB_ROW: dict[str, object] = {
    "Slave_IO_State": "Waiting for master to send event",
    "Master_Host": "10.0.0.11",
    "Master_User": "repl",
    "Master_Port": 3306,
    "Master_Log_File": "mysql-bin.000003",
    "Read_Master_Log_Pos": 1200,
    "Relay_Master_Log_File": "mysql-bin.000003",
    "Slave_IO_Running": "Yes",
    "Slave_SQL_Running": "Yes",
    "Last_IO_Error": "",
    "Last_SQL_Error": "",
    "Exec_Master_Log_Pos": 1200,
    "Seconds_Behind_Master": 0,
    "Using_Gtid": "Slave_Pos",
    "Gtid_IO_Pos": "0-1-27",
    "Slave_SQL_Running_State": "Slave has read all relay log; waiting for more updates",
}

MYSQL_REPLICA_ROW: dict[str, object] = {
    "Replica_IO_State": "Waiting for source to send event",
    "Source_Host": b"10.0.0.11",
    "Source_Port": 3306,
    "Relay_Source_Log_File": "binlog.000002",
    "Replica_IO_Running": b"Yes",
    "Replica_SQL_Running": "Yes",
    "Exec_Source_Log_Pos": 1232,
    "Seconds_Behind_Source": 3,
    "Last_IO_Error": "",
    "Last_SQL_Error": "",
    "Executed_Gtid_Set": "c777888a-b6df-11e2-a604-080027635ef5:1-4,\n"
    "d1a6d2d6-4f3c-11e2-9a8e-080027635ef5:1-10",
    "Auto_Position": 1,
}

MYSQL_SLAVE_ROW: dict[str, object] = {
    "Master_Host": "10.0.0.11",
    "Master_Port": 3306,
    "Slave_IO_Running": "Connecting",
    "Slave_SQL_Running": "Yes",
    "Seconds_Behind_Master": None,
    "Last_IO_Error": "error connecting to master 'repl@10.0.0.11:3306' - retry-time: 60",
    "Last_SQL_Error": "",
    "Exec_Master_Log_Pos": 4,
    "Executed_Gtid_Set": "",
    "Auto_Position": 0,
}


def test_normalize_mariadb_row() -> None:
    status = normalize_replica_status(MARIADB_ROW)
    assert status is not None
    assert status.io_running and status.sql_running and status.healthy
    assert status.seconds_behind == 0
    assert (status.source_host, status.source_port) == ("10.0.0.11", 3306)
    assert (status.source_log_file, status.exec_source_log_pos) == ("mysql-bin.000003", 1200)
    assert status.uses_gtid
    assert status.gtid_position == "0-1-27"


def test_normalize_mysql_replica_row() -> None:
    status = normalize_replica_status(MYSQL_REPLICA_ROW)
    assert status is not None
    assert status.healthy and status.seconds_behind == 3
    assert status.source_host == "10.0.0.11"
    assert status.exec_source_log_pos == 1232
    assert status.uses_gtid
    assert status.gtid_position == (
        "c777888a-b6df-11e2-a604-080027635ef5:1-4,d1a6d2d6-4f3c-11e2-9a8e-080027635ef5:1-10"
    )


def test_normalize_broken_replica_and_case() -> None:
    status = normalize_replica_status({k.lower(): v for k, v in MYSQL_SLAVE_ROW.items()})
    assert status is not None
    assert not status.io_running and status.io_state == "Connecting"
    assert status.sql_running and not status.healthy
    assert status.seconds_behind is None
    assert status.errors == [MYSQL_SLAVE_ROW["Last_IO_Error"]]
    assert not status.uses_gtid and status.gtid_position is None
    assert normalize_replica_status(None) is None


def test_proxysql_lag_warning() -> None:
    mysql84 = parse_version("8.4.2")
    warning = proxysql_lag_warning(mysql84, 10)
    assert warning is not None
    assert "MySQL 8.4.2" in warning and "SHOW SLAVE STATUS" in warning
    assert "does nothing" in warning and "keeps serving reads" in warning and "(3.0)" in warning
    assert proxysql_lag_warning(mysql84, 0) is None
    assert proxysql_lag_warning(parse_version("8.0.36"), 10) is None
    assert proxysql_lag_warning(parse_version("11.4.3-MariaDB"), 10) is None


# -- copying the Moodle account to the proxy hosts ------------------------------------------

MARIADB_GRANTS = [
    "GRANT USAGE ON *.* TO `moodle`@`localhost` IDENTIFIED BY PASSWORD "
    "'*14E65567ABDB5135D0CFD9A70B3032C179A49EE7'",
    "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES "
    "ON `moodle`.* TO `moodle`@`localhost`",
]
MARIADB_CREATE = (
    "CREATE USER `moodle`@`localhost` IDENTIFIED BY PASSWORD "
    "'*14E65567ABDB5135D0CFD9A70B3032C179A49EE7'"
)


def test_copy_account_mariadb() -> None:
    statements = copy_account_statements(
        MARIADB_GRANTS, MARIADB_CREATE, "moodle", "localhost", "10.0.0.%"
    )
    sql = [s.sql for s in statements]
    assert sql[0] == (
        "CREATE USER IF NOT EXISTS `moodle`@`10.0.0.%` IDENTIFIED BY PASSWORD "
        "'*14E65567ABDB5135D0CFD9A70B3032C179A49EE7'"
    )
    for original, copied in zip(MARIADB_GRANTS, sql[1:], strict=True):
        assert copied == original.replace("`moodle`@`localhost`", "`moodle`@`10.0.0.%`")
    assert all(s.args is None for s in statements)


MYSQL_HASH = "0x" + "24412430303524" + "ab" * 30
MYSQL_CREATE = (
    "CREATE USER `moodle`@`%` IDENTIFIED WITH 'caching_sha2_password' AS "
    f"{MYSQL_HASH} REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK PASSWORD HISTORY DEFAULT "
    "PASSWORD REUSE INTERVAL DEFAULT PASSWORD REQUIRE CURRENT DEFAULT"
)
MYSQL_GRANTS = [
    "GRANT USAGE ON *.* TO `moodle`@`%`",
    "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, "
    "LOCK TABLES ON `moodle`.* TO `moodle`@`%` WITH GRANT OPTION",
    "GRANT `moodle_role`@`%` TO `moodle`@`%`",
]


def test_copy_account_mysql() -> None:
    statements = copy_account_statements(MYSQL_GRANTS, MYSQL_CREATE, "moodle", "%", "10.0.0.21")
    assert statements[0].sql.startswith(
        "CREATE USER IF NOT EXISTS `moodle`@`10.0.0.21` IDENTIFIED WITH "
        f"'caching_sha2_password' AS {MYSQL_HASH} REQUIRE NONE"
    )
    assert statements[1].sql == "GRANT USAGE ON *.* TO `moodle`@`10.0.0.21`"
    assert statements[2].sql.endswith("TO `moodle`@`10.0.0.21` WITH GRANT OPTION")
    # A role grant names another account before TO: only the grantee changes.
    assert statements[3].sql == "GRANT `moodle_role`@`%` TO `moodle`@`10.0.0.21`"


def test_copy_account_odd_names() -> None:
    create = "CREATE USER `mo``odle`@`app.example.org` IDENTIFIED BY PASSWORD '*AB'"
    grants = ["GRANT SELECT ON `to db`.* TO `mo``odle`@`app.example.org`"]
    out = copy_account_statements(grants, create, "mo`odle", "app.example.org", "px1")
    assert out[1].sql == "GRANT SELECT ON `to db`.* TO `mo``odle`@`px1`"
    quoted = ["GRANT USAGE ON *.* TO 'moodle'@'localhost'"]
    out = copy_account_statements(quoted, MARIADB_CREATE, "moodle", "localhost", "px1")
    assert out[1].sql == "GRANT USAGE ON *.* TO `moodle`@`px1`"


@pytest.mark.parametrize(
    ("grants", "create", "message"),
    [
        (MYSQL_GRANTS, MYSQL_CREATE.replace(MYSQL_HASH, "'$A$005$\x01\x02xyz'"), "hex"),
        (["GRANT USAGE ON *.* TO `other`@`%`"], MYSQL_CREATE, "expected"),
        (["REVOKE ALL ON *.* FROM `moodle`@`%`"], MYSQL_CREATE, "not a GRANT"),
        (MYSQL_GRANTS, "DROP USER `moodle`@`%`", "not a CREATE USER"),
    ],
)
def test_copy_account_refusals(grants: list[str], create: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        copy_account_statements(grants, create, "moodle", "%", "px1")


def test_server_version_is_ordered_and_hashable() -> None:
    a = ServerVersion(Flavor.MYSQL, 8, 0, 36)
    b = ServerVersion(Flavor.MYSQL, 8, 4, 0)
    assert a < b and len({a, b, ServerVersion(Flavor.MYSQL, 8, 0, 36)}) == 2
    assert re.fullmatch(r"\d+\.\d+\.\d+", a.number)


def test_checksum_sql_quotes_every_identifier() -> None:
    from moodle_wizard.core.steps.replicas import checksum_sql

    assert checksum_sql("moodle", ["mdl_user"]) == "CHECKSUM TABLE `moodle`.`mdl_user`"
    # A backtick in a name (config.php's dbname, a table on the server) cannot end the name.
    assert checksum_sql("mood`le", ["t`; DROP TABLE x; --"]) == (
        "CHECKSUM TABLE `mood``le`.`t``; DROP TABLE x; --`")


def test_native_password_hash_is_what_mariadb_computes() -> None:
    from moodle_wizard.core.sql.quoting import native_password_hash

    # SELECT PASSWORD('secret') on MariaDB 10.11
    assert native_password_hash("secret") == "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
