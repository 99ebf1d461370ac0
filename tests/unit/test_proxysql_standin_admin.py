"""The stand-in's admin interface (6032), driven over the MySQL protocol like a client would."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from moodle_wizard.lab.proxysql_standin import STANDIN_VERSION
from moodle_wizard.lab.proxysql_standin.passwords import native_hash
from tests.unit.conftest_proxysql_standin import StandIn, connect, free_port, query, wait_for


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    process = StandIn(tmp_path).start()
    yield process
    assert process.stop() == 0, process.log()


@pytest.fixture(scope="module")
def unchanged_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """One stand-in for the tests that leave its configuration as they found it."""
    process = StandIn(tmp_path_factory.mktemp("standin")).start()
    yield process
    assert process.stop() == 0, process.log()


def admin_error(standin: StandIn, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as raised:
        standin.admin(sql)
    code, message = raised.value.args
    return int(code), str(message)


# -- login -----------------------------------------------------------------------------

def test_admin_from_localhost_sees_proxysql_versions(unchanged_standin: StandIn) -> None:
    # Like ProxySQL's admin, every value comes back as a string.
    assert unchanged_standin.admin("SELECT 1, NULL") == [("1", None)]
    assert unchanged_standin.admin("SELECT @@version") == [(STANDIN_VERSION,)]
    assert unchanged_standin.admin("SELECT @@admin-version") == [(STANDIN_VERSION,)]
    (comment,), = unchanged_standin.admin("select @@version_comment limit 1")
    assert "stand-in" in comment
    assert unchanged_standin.admin("SHOW VARIABLES LIKE 'mysql-server_version'") == [
        ("mysql-server_version", "8.0.11")]


def test_builtin_admin_only_from_localhost(unchanged_standin: StandIn) -> None:
    # 127.0.0.2 is loopback too, but not "localhost" for ProxySQL's admin rule.
    with pytest.raises(pymysql.err.OperationalError) as refused:
        connect(unchanged_standin.admin_port, "admin", "admin", bind_address="127.0.0.2")
    assert refused.value.args == (
        1045, "ProxySQL Error: Access denied for user 'admin'@'127.0.0.2' (using password: YES)")
    remote = connect(unchanged_standin.admin_port, "radmin", "radmin", bind_address="127.0.0.2")
    remote.close()


def test_wrong_admin_password_is_refused(unchanged_standin: StandIn) -> None:
    with pytest.raises(pymysql.err.OperationalError) as refused:
        connect(unchanged_standin.admin_port, "admin", "nope")
    assert refused.value.args[0] == 1045


def test_new_admin_credentials_apply_at_load(standin: StandIn) -> None:
    standin.admin_script([
        "SET admin-admin_credentials='admin:admin;wizard:n3w'",
    ])
    with pytest.raises(pymysql.err.OperationalError):
        connect(standin.admin_port, "wizard", "n3w")
    standin.admin("LOAD ADMIN VARIABLES TO RUNTIME")
    assert query(standin.admin_port, "SELECT 1", "wizard", "n3w") == [("1",)]


# -- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("INSERT INTO mysql_servers (hostgroup_id, hostname) VALUES (-1, 'db1')",
         "CHECK constraint failed: hostgroup_id>=0"),
        ("INSERT INTO mysql_servers (hostname, port) VALUES ('db1', 70000)",
         "CHECK constraint failed: port >= 0 AND port <= 65535"),
        ("INSERT INTO mysql_servers (hostname, status) VALUES ('db1', 'UP')",
         "CHECK constraint failed: UPPER(status) IN ('ONLINE','SHUNNED','OFFLINE_SOFT', "
         "'OFFLINE_HARD')"),
        ("INSERT INTO mysql_replication_hostgroups (writer_hostgroup, reader_hostgroup) "
         "VALUES (10, 10)",
         "CHECK constraint failed: reader_hostgroup<>writer_hostgroup AND reader_hostgroup>=0"),
        ("INSERT INTO mysql_users (username, attributes) VALUES ('u', 'not json')",
         "CHECK constraint failed: JSON_VALID(attributes) OR attributes = ''"),
        ("LOAD MYSQL SERVER TO RUNTIME", 'near "LOAD": syntax error'),
        ("SELECT * FROM no_such_table", "no such table: no_such_table"),
    ],
)
def test_errors_are_1045_proxysql_admin_errors(
    unchanged_standin: StandIn, sql: str, message: str
) -> None:
    assert admin_error(unchanged_standin, sql) == (1045, "ProxySQL Admin Error: " + message)


def test_duplicate_keys_are_refused(standin: StandIn) -> None:
    standin.admin("INSERT INTO mysql_users (username, password) VALUES ('moodle', 'pw')")
    code, message = admin_error(
        standin, "INSERT INTO mysql_users (username, password) VALUES ('moodle', 'pw')")
    assert code == 1045
    assert message.startswith("ProxySQL Admin Error: UNIQUE constraint failed: mysql_users.")


# -- layers -------------------------------------------------------------------------------------

def test_load_and_save_move_config_between_layers(standin: StandIn) -> None:
    standin.admin("INSERT INTO mysql_servers (hostgroup_id, hostname, port) "
                  "VALUES (10, '192.0.2.1', 3306)")
    assert standin.admin("SELECT hostname FROM runtime_mysql_servers") == []
    assert standin.admin("SELECT hostname FROM disk.mysql_servers") == []

    standin.admin("LOAD MYSQL SERVERS TO RUNTIME")
    assert standin.admin("SELECT hostgroup_id, hostname FROM runtime_mysql_servers") == [
        ("10", "192.0.2.1")]
    standin.admin("SAVE MYSQL SERVERS TO DISK")
    assert standin.admin("SELECT hostname FROM disk.mysql_servers") == [("192.0.2.1",)]

    standin.admin("DELETE FROM mysql_servers")
    standin.admin("LOAD MYSQL SERVERS FROM DISK")
    assert standin.admin("SELECT hostname FROM mysql_servers") == [("192.0.2.1",)]

    standin.admin("UPDATE mysql_servers SET hostname='192.0.2.2'")
    standin.admin("SAVE MYSQL SERVERS FROM RUNTIME")
    assert standin.admin("SELECT hostname FROM mysql_servers") == [("192.0.2.1",)]


@pytest.mark.parametrize("alias", ["TO RUNTIME", "TO RUN", "FROM MEMORY", "FROM MEM"])
def test_load_to_runtime_aliases(standin: StandIn, alias: str) -> None:
    standin.admin("INSERT INTO mysql_replication_hostgroups VALUES (10, 20, 'read_only', 'x')")
    standin.admin(f"load mysql servers {alias.lower()};")
    assert standin.admin("SELECT writer_hostgroup, reader_hostgroup "
                         "FROM runtime_mysql_replication_hostgroups") == [("10", "20")]


def test_copies_replace_the_whole_destination(standin: StandIn) -> None:
    standin.admin_script([
        "INSERT INTO mysql_servers (hostname) VALUES ('a'), ('b')",
        "LOAD MYSQL SERVERS TO RUNTIME",
        "DELETE FROM mysql_servers WHERE hostname='a'",
        "LOAD MYSQL SERVERS TO RUNTIME",
    ])
    assert standin.admin("SELECT hostname FROM runtime_mysql_servers") == [("b",)]


def test_runtime_users_show_one_row_per_role_and_save_back(standin: StandIn) -> None:
    standin.admin_script([
        "INSERT INTO mysql_users (username, password, default_hostgroup) "
        "VALUES ('moodle', 's3cret', 10)",
        "LOAD MYSQL USERS TO RUNTIME",
    ])
    rows = standin.admin("SELECT username, password, frontend, backend FROM runtime_mysql_users "
                         "ORDER BY backend")
    # As 2.7 (admin-hash_passwords removed, issue #4218): the password as it was given.
    assert rows == [("moodle", "s3cret", "1", "0"), ("moodle", "s3cret", "0", "1")]
    standin.admin("SAVE MYSQL USERS FROM RUNTIME")
    assert standin.admin("SELECT username, password, frontend, backend FROM mysql_users "
                         "ORDER BY backend") == [("moodle", "s3cret", "1", "0"),
                                                 ("moodle", "s3cret", "0", "1")]
    assert standin.admin("SELECT COUNT(*) FROM global_variables "
                         "WHERE variable_name = 'admin-hash_passwords'") == [("0",)]


def test_users_checksum_is_over_the_password_as_given(standin: StandIn) -> None:
    # compute_accounts_hash hashes ad->password: a hash and its cleartext differ.
    checksum = ("SELECT checksum FROM runtime_checksums_values WHERE name = 'mysql_users'")
    sums = []
    for password in ("s3cret", native_hash("s3cret"), "s3cret"):
        standin.admin_script([
            "DELETE FROM mysql_users",
            "INSERT INTO mysql_users (username, password, default_hostgroup) "
            f"VALUES ('moodle', '{password}', 10)",
            "LOAD MYSQL USERS TO RUNTIME",
        ])
        assert standin.admin("SELECT DISTINCT password FROM runtime_mysql_users") == [
            (password,)]
        sums.append(standin.admin(checksum))
    assert sums[0] == sums[2] != sums[1]


def test_set_updates_memory_and_load_applies_it(standin: StandIn) -> None:
    standin.admin("SET mysql-monitor_username='wizmon'")
    standin.admin("SET mysql-no_such_variable='x'")
    assert standin.admin("SELECT variable_value FROM global_variables "
                         "WHERE variable_name='mysql-monitor_username'") == [("wizmon",)]
    assert standin.admin("SELECT COUNT(*) FROM global_variables "
                         "WHERE variable_name='mysql-no_such_variable'") == [("0",)]
    runtime = ("SELECT variable_value FROM runtime_global_variables "
               "WHERE variable_name='mysql-monitor_username'")
    assert standin.admin(runtime) == [("monitor",)]
    standin.admin("LOAD MYSQL VARIABLES TO RUNTIME")
    assert standin.admin(runtime) == [("wizmon",)]


def test_invalid_variable_value_is_refused_at_load(standin: StandIn) -> None:
    standin.admin("SET mysql-monitor_read_only_interval='soon'")
    standin.admin("LOAD MYSQL VARIABLES TO RUNTIME")
    assert standin.admin("SELECT variable_value FROM global_variables WHERE "
                         "variable_name='mysql-monitor_read_only_interval'") == [("1000",)]


def test_show_databases_and_tables(unchanged_standin: StandIn) -> None:
    names = [row[1] for row in unchanged_standin.admin("SHOW DATABASES")]
    assert names == ["main", "disk", "stats", "monitor", "stats_history"]
    tables = {row[0] for row in unchanged_standin.admin("SHOW TABLES")}
    assert {"mysql_servers", "mysql_users", "mysql_replication_hostgroups", "global_variables",
            "proxysql_servers", "mysql_query_rules", "runtime_mysql_servers",
            "runtime_checksums_values"} <= tables
    assert {row[0] for row in unchanged_standin.admin("SHOW TABLES FROM monitor")} == {
        "mysql_server_connect_log", "mysql_server_ping_log", "mysql_server_read_only_log",
        "mysql_server_replication_lag_log"}


def test_mariadb_cli_against_admin_port(standin: StandIn) -> None:
    result = subprocess.run(
        ["mariadb", "-h127.0.0.1", f"-P{standin.admin_port}", "-uadmin", "-padmin", "-N",
         "-e", "INSERT INTO proxysql_servers (hostname) VALUES ('px1'); "
               "LOAD PROXYSQL SERVERS TO RUNTIME; SAVE PROXYSQL SERVERS TO DISK; "
               "SELECT hostname, port FROM runtime_proxysql_servers; SELECT @@version"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["px1\t6032", STANDIN_VERSION]
    failed = subprocess.run(
        ["mariadb", "-h127.0.0.1", f"-P{standin.admin_port}", "-uadmin", "-padmin",
         "-e", "INSERT INTO mysql_servers (hostname, weight) VALUES ('db1', -1)"],
        capture_output=True, text=True, timeout=30,
    )
    assert failed.returncode == 1
    assert "ERROR 1045 (28000)" in failed.stderr
    assert "ProxySQL Admin Error: CHECK constraint failed: weight >= 0" in failed.stderr


# -- checksums ----------------------------------------------------------------------------------

def checksums(standin: StandIn) -> dict[str, tuple[int, str]]:
    rows = standin.admin("SELECT name, version, checksum FROM runtime_checksums_values")
    return {str(name): (int(version), str(checksum)) for name, version, checksum in rows}


def test_equal_config_gives_equal_checksums(tmp_path: Path) -> None:
    one = StandIn(tmp_path / "px1").start()
    two = StandIn(tmp_path / "px2").start()
    try:
        config = [
            "INSERT INTO mysql_servers (hostgroup_id, hostname) VALUES (10, '192.0.2.10')",
            "INSERT INTO mysql_replication_hostgroups VALUES (10, 20, 'read_only', '')",
            "INSERT INTO mysql_users (username, password, default_hostgroup) "
            "VALUES ('moodle', 'pw', 10)",
            "SET mysql-server_version='10.11.6-MariaDB'",
            "LOAD MYSQL SERVERS TO RUNTIME", "LOAD MYSQL USERS TO RUNTIME",
            "LOAD MYSQL VARIABLES TO RUNTIME",
        ]
        one.admin_script(config)
        two.admin_script(list(reversed(config[:4])) + config[4:])
        first, second = checksums(one), checksums(two)
        assert {n: c for n, (_, c) in first.items()} == {n: c for n, (_, c) in second.items()}
        assert {"mysql_servers", "mysql_users", "mysql_variables", "admin_variables",
                "mysql_query_rules", "proxysql_servers"} <= set(first)

        two.admin_script(["UPDATE mysql_users SET default_hostgroup=20",
                          "LOAD MYSQL USERS TO RUNTIME"])
        changed = checksums(two)
        assert changed["mysql_users"][1] != first["mysql_users"][1]
        assert changed["mysql_users"][0] == second["mysql_users"][0] + 1
        assert changed["mysql_servers"] == second["mysql_servers"]
    finally:
        assert one.stop() == 0
        assert two.stop() == 0


def test_admin_interface_can_move(standin: StandIn) -> None:
    standin.admin_script([f"SET admin-mysql_ifaces='127.0.0.1:{standin.client_port}'"])
    # The client port is taken: the move fails (logged), the old port keeps working.
    standin.admin("LOAD ADMIN VARIABLES TO RUNTIME")
    assert standin.admin("SELECT 1") == [("1",)]
    assert "cannot listen on admin-mysql_ifaces" in standin.log()

    new_port = free_port()
    standin.admin_script([f"SET admin-mysql_ifaces='127.0.0.1:{new_port}'",
                          "LOAD ADMIN VARIABLES TO RUNTIME"])
    assert wait_for("the new admin port", lambda: query(new_port, "SELECT 1") == [("1",)])
    with pytest.raises(pymysql.err.OperationalError):
        standin.admin("SELECT 1")
    standin.admin_port = new_port
