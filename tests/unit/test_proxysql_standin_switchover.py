"""The stand-in through the wizard's switchover and failover steps, against two real MariaDBs.

db1 is the writer (hostgroup 10), db2 the read-only replica (hostgroup 20);
``mysql-monitor_writer_is_also_reader=false`` as the wizard renders it. Each
test restores that shape.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pymysql
import pytest

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
                "CREATE USER 'moodle'@'127.0.0.1' IDENTIFIED BY 'moodlepw'",
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
    standin = StandIn(
        tmp_path_factory.mktemp("proxy"),
        mysql_variables={
            "monitor_username": "monitor", "monitor_password": "monpw",
            "monitor_read_only_interval": 200, "monitor_ping_interval": 200,
            "monitor_connect_interval": 200, "monitor_writer_is_also_reader": "false",
            "connect_timeout_server_max": CONNECT_TIMEOUT_MS,
        },
    ).start()
    try:
        standin.admin_script([
            "INSERT INTO mysql_replication_hostgroups (writer_hostgroup, reader_hostgroup) "
            f"VALUES ({WRITER}, {READER})",
            f"INSERT INTO mysql_users (username, password, default_hostgroup) VALUES "
            f"('moodle', 'moodlepw', {WRITER})",
            "LOAD MYSQL USERS TO RUNTIME",
        ])
        reset(standin, databases)
        yield standin
    finally:
        assert standin.stop() == 0, standin.log()


def reset(proxy: StandIn, databases: tuple[MariaDB, MariaDB]) -> None:
    db1, db2 = databases
    db1.sql("SET GLOBAL read_only=0")
    db2.sql("SET GLOBAL read_only=1")
    proxy.admin_script([
        "DELETE FROM mysql_servers",
        f"INSERT INTO mysql_servers (hostgroup_id, hostname, port) "
        f"VALUES ({WRITER}, '127.0.0.1', {db1.port}), ({READER}, '127.0.0.1', {db2.port})",
        "LOAD MYSQL SERVERS TO RUNTIME",
    ])
    wait_for("db1 writer, db2 reader", lambda: placed(proxy) == sorted([
        (WRITER, db1.port, "ONLINE"), (READER, db2.port, "ONLINE")]))


def placed(proxy: StandIn) -> list[tuple[int, int, str]]:
    return [(hostgroup, port, status) for hostgroup, _, port, status in proxy.runtime_servers()]


def conn_used(proxy: StandIn, hostgroup: int, port: int) -> int | None:
    # The admin SQL the wizard uses to wait for in-flight work on the old primary.
    rows = proxy.admin(f"SELECT ConnUsed FROM stats_mysql_connection_pool "
                       f"WHERE hostgroup = {hostgroup} AND srv_port = {port}")
    return int(rows[0][0]) if rows else None


def read_only_checks(proxy: StandIn, port: int) -> int:
    return int(proxy.admin(f"SELECT COUNT(*) FROM monitor.mysql_server_read_only_log "
                           f"WHERE port = {port}")[0][0])


def test_switchover_through_offline_soft(
    proxy: StandIn, databases: tuple[MariaDB, MariaDB]
) -> None:
    db1, db2 = databases
    session = connect(proxy.client_port, "moodle", "moodlepw")
    try:
        with session.cursor() as cursor:
            cursor.execute("SELECT @@port")
            assert cursor.fetchall() == ((db1.port,),)
        assert conn_used(proxy, WRITER, db1.port) == 1
        proxy.admin_script([
            f"UPDATE mysql_servers SET status='OFFLINE_SOFT' WHERE hostgroup_id={WRITER} "
            f"AND hostname='127.0.0.1' AND port={db1.port}",
            "LOAD MYSQL SERVERS TO RUNTIME"])
        # The session already on db1 goes on; a new one finds no ONLINE writer and waits
        # mysql-connect_timeout_server_max, then fails with 9001.
        with session.cursor() as cursor:
            cursor.execute("SELECT @@port")
            assert cursor.fetchall() == ((db1.port,),)
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as failed:
            query(proxy.client_port, "SELECT 1", "moodle", "moodlepw")
        assert failed.value.args[0] == 9001
        assert time.monotonic() - started >= CONNECT_TIMEOUT_MS / 1000
        assert conn_used(proxy, WRITER, db1.port) == 1
    finally:
        session.close()
    wait_for("db1's used connection to end", lambda: conn_used(proxy, WRITER, db1.port) == 0)
    checks_before = read_only_checks(proxy, db1.port)
    db1.sql("SET GLOBAL read_only=1")
    db2.sql("SET GLOBAL read_only=0")
    wait_for("db2 promoted into the writer hostgroup", lambda: placed(proxy) == sorted([
        (WRITER, db1.port, "OFFLINE_SOFT"), (WRITER, db2.port, "ONLINE")]))
    # An OFFLINE_SOFT-only server is not read_only-checked, so the monitor left it alone.
    assert read_only_checks(proxy, db1.port) == checks_before
    assert query(proxy.client_port, "SELECT @@port", "moodle", "moodlepw") == [(db2.port,)]
    reset(proxy, databases)


def test_fenced_offline_hard_server_is_not_monitored_or_used(
    proxy: StandIn, databases: tuple[MariaDB, MariaDB]
) -> None:
    db1, db2 = databases
    proxy.admin_script([
        f"UPDATE mysql_servers SET status='OFFLINE_HARD' WHERE port={db1.port}",
        "LOAD MYSQL SERVERS TO RUNTIME"])
    pings = int(proxy.admin(f"SELECT COUNT(*) FROM monitor.mysql_server_ping_log "
                            f"WHERE port = {db1.port}")[0][0])
    db2_pings = int(proxy.admin(f"SELECT COUNT(*) FROM monitor.mysql_server_ping_log "
                                f"WHERE port = {db2.port}")[0][0])
    checks = read_only_checks(proxy, db1.port)
    # db1 still says read_only=0, which would make the monitor put a checked server back.
    wait_for("three more ping rounds", lambda: int(proxy.admin(
        f"SELECT COUNT(*) FROM monitor.mysql_server_ping_log WHERE port = {db2.port}")[0][0])
        >= db2_pings + 3)
    assert int(proxy.admin(f"SELECT COUNT(*) FROM monitor.mysql_server_ping_log "
                           f"WHERE port = {db1.port}")[0][0]) == pings
    assert read_only_checks(proxy, db1.port) == checks
    # Without connections, an OFFLINE_HARD server is not shown at all.
    assert placed(proxy) == [(READER, db2.port, "ONLINE")]
    with pytest.raises(pymysql.err.OperationalError) as failed:
        query(proxy.client_port, "SELECT 1", "moodle", "moodlepw")
    assert failed.value.args[0] == 9001
    reset(proxy, databases)


def test_dead_primary_is_shunned_after_missed_pings(
    proxy: StandIn, databases: tuple[MariaDB, MariaDB]
) -> None:
    dead = free_port()
    proxy.admin_script([
        f"UPDATE mysql_servers SET port={dead} WHERE hostgroup_id={WRITER}",
        "LOAD MYSQL SERVERS TO RUNTIME"])
    wait_for("the dead primary to be shunned",
             lambda: (WRITER, dead, "SHUNNED") in placed(proxy))
    errors = proxy.admin(f"SELECT ping_error FROM monitor.mysql_server_ping_log "
                         f"WHERE port = {dead} ORDER BY time_start_us DESC LIMIT 3")
    assert len(errors) == 3 and all(error for (error,) in errors)
    reset(proxy, databases)
