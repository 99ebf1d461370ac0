"""The stand-in's client interface (6033) and monitor, against two real throwaway MariaDB servers.

db1 starts writable and db2 read-only; the stand-in is configured through its
admin interface as the wizard would: writer hostgroup 10, reader hostgroup 20,
``moodle`` routed to 10, ``moodle_ro`` to 20.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pymysql
import pytest

from moodle_wizard.lab.proxysql_standin import CLIENT_VERSION_COMMENT
from moodle_wizard.lab.proxysql_standin.passwords import native_hash
from tests.unit.conftest_proxysql_standin import (
    MariaDB,
    StandIn,
    connect,
    free_port,
    query,
    wait_for,
)

WRITER, READER = 10, 20
CONNECT_TIMEOUT_MS = 1000


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MariaDB, MariaDB]]:
    servers: list[MariaDB] = []
    try:
        for name in ("db1", "db2"):
            server = MariaDB(tmp_path_factory.mktemp(name)).start()
            servers.append(server)
            server.sql(
                "CREATE USER 'monitor'@'127.0.0.1' IDENTIFIED BY 'monpw'",
                "GRANT REPLICATION CLIENT ON *.* TO 'monitor'@'127.0.0.1'",
                "CREATE DATABASE moodle",
                "CREATE TABLE moodle.mdl_marker (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                "value VARCHAR(100)) ENGINE=InnoDB",
                "CREATE USER 'moodle'@'127.0.0.1' IDENTIFIED BY 'moodlepw'",
                "GRANT ALL ON moodle.* TO 'moodle'@'127.0.0.1'",
                "CREATE USER 'moodle_ro'@'127.0.0.1' IDENTIFIED BY 'ropw'",
                "GRANT SELECT ON moodle.* TO 'moodle_ro'@'127.0.0.1'",
            )
        servers[1].sql("SET GLOBAL read_only=1")
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, databases: tuple[MariaDB, MariaDB]
) -> Iterator[StandIn]:
    db1, db2 = databases
    standin = StandIn(
        tmp_path_factory.mktemp("proxy"),
        mysql_variables={
            "monitor_username": "monitor", "monitor_password": "monpw",
            "monitor_read_only_interval": 200,
            "monitor_ping_interval": 200,
            "monitor_connect_interval": 200,
            "monitor_writer_is_also_reader": "false",
            "connect_timeout_server_max": CONNECT_TIMEOUT_MS,
        },
    ).start()
    try:
        standin.admin_script([
            f"INSERT INTO mysql_servers (hostgroup_id, hostname, port) "
            f"VALUES ({WRITER}, '127.0.0.1', {db1.port}), ({READER}, '127.0.0.1', {db2.port})",
            f"INSERT INTO mysql_replication_hostgroups (writer_hostgroup, reader_hostgroup, "
            f"comment) VALUES ({WRITER}, {READER}, 'moodle')",
            f"INSERT INTO mysql_users (username, password, default_hostgroup) VALUES "
            f"('moodle', 'moodlepw', {WRITER}), ('moodle_ro', 'ropw', {READER})",
            "LOAD MYSQL SERVERS TO RUNTIME", "LOAD MYSQL USERS TO RUNTIME",
        ])
        wait_for("the monitor to place db1 and db2", lambda: placed(standin) == healthy(databases))
        yield standin
    finally:
        assert standin.stop() == 0, standin.log()


def placed(standin: StandIn) -> list[tuple[int, int, str]]:
    return [(hostgroup, port, status) for hostgroup, _, port, status in standin.runtime_servers()]


def healthy(databases: tuple[MariaDB, MariaDB]) -> list[tuple[int, int, str]]:
    db1, db2 = databases
    return [(WRITER, db1.port, "ONLINE"), (READER, db2.port, "ONLINE")]


def client_query(proxy: StandIn, user: str, password: str, sql: str) -> list[tuple[object, ...]]:
    return query(proxy.client_port, sql, user, password)


def test_users_are_routed_to_their_default_hostgroup(
    proxy: StandIn, databases: tuple[MariaDB, MariaDB]
) -> None:
    db1, db2 = databases
    assert client_query(proxy, "moodle", "moodlepw", "SELECT @@port, @@read_only") == [
        (db1.port, 0)]
    assert client_query(proxy, "moodle_ro", "ropw", "SELECT @@port, @@read_only") == [
        (db2.port, 1)]
    # The backend sees the frontend user, coming from the proxy's address.
    assert client_query(proxy, "moodle", "moodlepw", "SELECT CURRENT_USER()") == [
        ("moodle@127.0.0.1",)]


def mariadb_cli(proxy: StandIn, user: str, password: str, sql: str,
                *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mariadb", "-h127.0.0.1", f"-P{proxy.client_port}", f"-u{user}", f"-p{password}",
         "-N", *args, "-e", sql],
        capture_output=True, text=True, timeout=30,
    )


def test_mariadb_cli_through_the_client_port(
    proxy: StandIn, databases: tuple[MariaDB, MariaDB]
) -> None:
    marker = f"cli-{uuid.uuid4().hex[:8]}"
    result = mariadb_cli(
        proxy, "moodle", "moodlepw",
        f"INSERT INTO mdl_marker (value) VALUES ('{marker}'); "
        f"SELECT value FROM mdl_marker WHERE value = '{marker}'; SELECT @@port",
        "moodle",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [marker, str(databases[0].port)]


def test_php_mysqli_writes_and_reads_back(
    proxy: StandIn, databases: tuple[MariaDB, MariaDB]
) -> None:
    marker = f"php-{uuid.uuid4().hex[:8]}-é"
    php = (
        "mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);"
        f"$db = mysqli_connect('127.0.0.1', 'moodle', 'moodlepw', 'moodle', {proxy.client_port});"
        "$db->set_charset('utf8mb4');"
        "$marker = $argv[1];"
        "$db->query(\"INSERT INTO mdl_marker (value) VALUES ('\" . "
        "$db->real_escape_string($marker) . \"')\");"
        "$id = $db->insert_id;"
        "$row = $db->query('SELECT value FROM mdl_marker WHERE id = ' . (int)$id)->fetch_row();"
        # A server-side prepared statement crosses the relay too.
        "$st = $db->prepare('SELECT COUNT(*) FROM mdl_marker WHERE value = ?');"
        "$st->bind_param('s', $marker); $st->execute(); $st->bind_result($count); $st->fetch();"
        "echo json_encode(['id' => $id, 'value' => $row[0], 'count' => $count,"
        " 'server' => $db->server_info]);"
    )
    result = subprocess.run(["php", "-r", php, "--", marker], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["value"] == marker and answer["id"] > 0 and answer["count"] == 1
    assert answer["server"] == "8.0.11"
    # It went to the writer, db1.
    db1 = databases[0]
    assert db1.sql(f"SELECT value FROM moodle.mdl_marker WHERE id = {answer['id']}") == [
        (marker,)]


def test_handshake_announces_mysql_server_version(proxy: StandIn) -> None:
    proxy.admin_script(["SET mysql-server_version='10.11.19-MariaDB-wizard'",
                        "LOAD MYSQL VARIABLES TO RUNTIME"])
    try:
        connection = connect(proxy.client_port, "moodle", "moodlepw")
        assert connection.get_server_info() == "10.11.19-MariaDB-wizard"
        connection.close()
    finally:
        proxy.admin_script(["SET mysql-server_version='8.0.11'",
                            "LOAD MYSQL VARIABLES TO RUNTIME"])


def test_monitor_moves_the_writer_when_read_only_changes(
    proxy: StandIn, databases: tuple[MariaDB, MariaDB]
) -> None:
    db1, db2 = databases
    db1.sql("SET GLOBAL read_only=1")
    try:
        wait_for("db1 to leave the writer hostgroup", lambda: placed(proxy) == sorted(
            [(READER, db1.port, "ONLINE"), (READER, db2.port, "ONLINE")]))
        with pytest.raises(pymysql.err.OperationalError) as failed:
            client_query(proxy, "moodle", "moodlepw", "SELECT 1")
        assert failed.value.args == (
            9001, f"Max connect timeout reached while reaching hostgroup {WRITER} "
            f"after {CONNECT_TIMEOUT_MS}ms")
        log = proxy.admin(f"SELECT read_only FROM monitor.mysql_server_read_only_log "
                          f"WHERE port = {db1.port} ORDER BY time_start_us DESC LIMIT 1")
        assert log == [("1",)]
    finally:
        db1.sql("SET GLOBAL read_only=0")
    wait_for("db1 to come back as writer", lambda: placed(proxy) == healthy(databases))
    assert client_query(proxy, "moodle", "moodlepw", "SELECT @@port") == [(db1.port,)]


def test_unreachable_server_is_shunned(proxy: StandIn) -> None:
    dead_port = free_port()
    proxy.admin_script([f"INSERT INTO mysql_servers (hostgroup_id, hostname, port) "
                        f"VALUES (30, '127.0.0.1', {dead_port})",
                        "LOAD MYSQL SERVERS TO RUNTIME"])
    try:
        wait_for("the dead server to be shunned",
                 lambda: (30, dead_port, "SHUNNED") in placed(proxy))
        # Shunned for mysql-monitor_ping_max_failures (3) missed pings, not for one.
        pings = proxy.admin(f"SELECT ping_error FROM monitor.mysql_server_ping_log "
                            f"WHERE port = {dead_port}")
        assert len(pings) >= 3 and all(error for (error,) in pings)
        errors = proxy.admin(f"SELECT connect_error FROM monitor.mysql_server_connect_log "
                             f"WHERE port = {dead_port}")
        assert errors and all(error for (error,) in errors)
    finally:
        proxy.admin_script([f"DELETE FROM mysql_servers WHERE port = {dead_port}",
                            "LOAD MYSQL SERVERS TO RUNTIME"])


def test_no_online_server_is_reported_on_the_first_query(proxy: StandIn) -> None:
    proxy.admin_script(["INSERT INTO mysql_users (username, password, default_hostgroup) "
                        "VALUES ('lost', 'lostpw', 99)", "LOAD MYSQL USERS TO RUNTIME"])
    try:
        # Login needs no backend, and the CLI's version probe is answered by the proxy.
        result = mariadb_cli(proxy, "lost", "lostpw",
                             "select @@version_comment limit 1; SELECT 1")
        assert result.returncode == 1
        assert result.stdout.strip() == CLIENT_VERSION_COMMENT
        assert result.stderr.strip().endswith(
            "ERROR 9001 (HY000) at line 1: Max connect timeout reached while reaching "
            f"hostgroup 99 after {CONNECT_TIMEOUT_MS}ms")
    finally:
        proxy.admin_script(["DELETE FROM mysql_users WHERE username='lost'",
                            "LOAD MYSQL USERS TO RUNTIME"])


@pytest.mark.parametrize(
    ("user", "password", "message"),
    [
        ("moodle", "wrong", "ProxySQL Error: Access denied for user 'moodle'@'127.0.0.1' "
                            "(using password: YES)"),
        ("nobody", "", "ProxySQL Error: Access denied for user 'nobody'@'127.0.0.1' "
                       "(using password: NO)"),
        ("admin", "admin", "ProxySQL Error: Access denied for user 'admin'@'127.0.0.1' "
                           "(using password: YES)"),
    ],
)
def test_frontend_login_is_checked(proxy: StandIn, user: str, password: str,
                                   message: str) -> None:
    with pytest.raises(pymysql.err.OperationalError) as refused:
        connect(proxy.client_port, user, password)
    assert refused.value.args == (1045, message)


def test_inactive_and_hashed_users(proxy: StandIn) -> None:
    proxy.admin_script([
        "INSERT INTO mysql_users (username, password, active, default_hostgroup) VALUES "
        f"('sleeper', 'pw', 0, {WRITER}), ('hashed', '{native_hash('h4sh')}', 1, {WRITER})",
        "LOAD MYSQL USERS TO RUNTIME",
    ])
    probe = "select @@version_comment limit 1"
    try:
        refused = mariadb_cli(proxy, "sleeper", "pw", probe)
        assert refused.returncode == 1 and "ERROR 1045 (28000)" in refused.stderr
        # A *HEX password in mysql_users authenticates the frontend too.
        accepted = mariadb_cli(proxy, "hashed", "h4sh", probe)
        assert accepted.returncode == 0, accepted.stderr
        assert accepted.stdout.strip() == CLIENT_VERSION_COMMENT
        refused = mariadb_cli(proxy, "hashed", "wrong", probe)
        assert refused.returncode == 1 and "ERROR 1045 (28000)" in refused.stderr
    finally:
        proxy.admin_script(["DELETE FROM mysql_users WHERE username IN ('sleeper', 'hashed')",
                            "LOAD MYSQL USERS TO RUNTIME"])


def test_wrong_monitor_password_does_not_shun_servers(
    proxy: StandIn, databases: tuple[MariaDB, MariaDB]
) -> None:
    db1 = databases[0]
    proxy.admin_script(["SET mysql-monitor_password='wrong'", "LOAD MYSQL VARIABLES TO RUNTIME"])
    try:
        # Two refused logins: the first check cycle has completed.
        wait_for("the monitor's refused logins", lambda: int(proxy.admin(
            f"SELECT COUNT(*) FROM monitor.mysql_server_connect_log WHERE port = {db1.port} "
            "AND connect_error LIKE 'Access denied%'")[0][0]) >= 2)
        # The servers answer; only the monitor user is wrong: they stay in service.
        assert placed(proxy) == healthy(databases)
    finally:
        proxy.admin_script(["SET mysql-monitor_password='monpw'",
                            "LOAD MYSQL VARIABLES TO RUNTIME"])
