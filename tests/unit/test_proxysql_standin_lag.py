"""The stand-in takes a lagging or stopped replica out of service as ProxySQL 2.7 does.

lib/MySQL_Monitor.cpp MySQL_Monitor::monitor_replication_lag checks rows with
max_replication_lag > 0 that are not OFFLINE (SHOW SLAVE STATUS, every
mysql-monitor_replication_lag_interval ms, servers answering pings only);
monitor_replication_lag_process_ready_tasks reads Seconds_Behind_Master (NULL, no row,
error); lib/MySQL_HostGroups_Manager.cpp replication_lag_action_inner shuns
(SHUNNED_REPLICATION_LAG) and re-enables; commit keeps a lag shun on LOAD while the lag is
over the limit; lib/MyHGC.cpp get_random_MySrvC never picks a lag-shunned server, not even
as its last resort. With mysql-monitor_writer_is_also_reader the writer's own reader row
(weight 1, max_replication_lag 0) is never checked, so reads fall back to the primary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.lab.proxysql_standin.lag import (
    FAILED,
    LAG_NULL,
    NOT_A_REPLICA,
    LagReading,
    keeps_lag_shun_on_load,
    lag_action,
    lag_query,
    reading,
)
from moodle_wizard.lab.proxysql_standin.modules import Module
from moodle_wizard.lab.proxysql_standin.monitor import Monitor
from moodle_wizard.lab.proxysql_standin.runtime import RuntimeConfig
from moodle_wizard.lab.proxysql_standin.servers import ServerTable
from moodle_wizard.lab.proxysql_standin.store import AdminStore
from moodle_wizard.lab.proxysql_standin.topology import (
    Endpoint,
    ReplicationPair,
    read_only_action,
    replication_lag_targets,
)
from tests.unit.conftest_proxysql_standin import MariaDB, StandIn, free_port, query, wait_for

DB1, DB2, DB3 = Endpoint("10.0.0.1", 3306), Endpoint("10.0.0.2", 3306), Endpoint("10.0.0.3", 3306)
W, R = 10, 20
LAG = "SHUNNED_REPLICATION_LAG"
SLAVE_COLUMNS = ["Slave_IO_State", *(f"c{i}" for i in range(30)), "Seconds_Behind_Master"]


def seen(lag: int) -> LagReading:
    return LagReading(lag, False)


def server(hostgroup: int, endpoint: Endpoint, status: str = "ONLINE", weight: int = 1000,
           max_lag: int = 30) -> dict[str, Any]:
    return {"hostgroup_id": hostgroup, "hostname": endpoint.hostname, "port": endpoint.port,
            "status": status, "weight": weight, "max_replication_lag": max_lag, "comment": ""}


def cluster() -> list[dict[str, Any]]:
    """The wizard's shape: db1 writer, also a weight-1 reader never lag-checked."""
    return [server(W, DB1, max_lag=0), server(R, DB1, weight=1, max_lag=0),
            server(R, DB2), server(R, DB3)]


def statuses(rows: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(r["hostgroup_id"], r["hostname"], r["status"]) for r in rows]


def apply(servers: ServerTable, endpoint: Endpoint, value: LagReading, count: int = 1,
          when_null: int = 60) -> list[str]:
    return servers.replication_lag_action({endpoint: ([R], value)}, lag_count=count,
                                           lag_when_null=when_null)


# -- reading Seconds_Behind_Master (monitor_replication_lag_process_ready_tasks) ----------


def test_readings_of_show_slave_status() -> None:
    assert reading(SLAVE_COLUMNS, ["x", *([None] * 30), 42], percona=False) == seen(42)
    # Replication stopped: NULL, which replication_lag_action_inner replaces.
    assert reading(SLAVE_COLUMNS, ["x", *([None] * 31)], percona=False) == LagReading(
        LAG_NULL, True)
    # Not a replica (empty set), or too few columns (bug #1994): "no replication".
    assert reading(SLAVE_COLUMNS, None, percona=False) == LagReading(NOT_A_REPLICA, True)
    assert reading(["Seconds_Behind_Master"], [5], percona=False).lag == NOT_A_REPLICA
    assert reading(["Seconds_Behind_Master"], [5], percona=True) == seen(5)
    assert lag_query("") == "SHOW SLAVE STATUS"
    assert lag_query("percona.heartbeat").endswith("FROM percona.heartbeat")
    assert [v.logged for v in (seen(3), LagReading(LAG_NULL, True), FAILED)] == [3, None, None]


# -- replication_lag_action_inner ---------------------------------------------------------


def test_online_server_over_the_limit_is_shunned_after_lag_count_checks() -> None:
    state = lag_action("ONLINE", 0, 30, seen(31), lag_count=1, lag_when_null=60)
    assert (state.status, state.lag, state.count) == (LAG, 31, 1)
    first = lag_action("ONLINE", 0, 30, seen(31), lag_count=3, lag_when_null=60)
    second = lag_action("ONLINE", first.count, 30, seen(99), lag_count=3, lag_when_null=60)
    assert (first.status, second.status, second.count) == ("ONLINE", "ONLINE", 2)
    assert lag_action("ONLINE", second.count, 30, seen(40), lag_count=3,
                      lag_when_null=60).status == LAG
    # A check within the limit starts the count again; the limit itself is within it.
    assert lag_action("ONLINE", 2, 30, seen(30), lag_count=3, lag_when_null=60).count == 0


@pytest.mark.parametrize(("when_null", "expected"), [(60, LAG), (30, "ONLINE"), (0, "ONLINE")])
def test_a_stopped_replica_counts_as_slave_lag_when_null(when_null: int, expected: str) -> None:
    null = LagReading(LAG_NULL, True)
    state = lag_action("ONLINE", 0, 30, null, lag_count=1, lag_when_null=when_null)
    assert (state.status, state.lag) == (expected, when_null)


@pytest.mark.parametrize(("value", "expected"), [
    (seen(30), "ONLINE"), (seen(0), "ONLINE"), (seen(31), LAG),
    (LagReading(LAG_NULL, True), LAG),          # still stopped: 60 > 30
    (LagReading(NOT_A_REPLICA, True), "ONLINE"),  # replication removed (issue 959)
    (FAILED, LAG),                              # a failed check never re-enables
])
def test_when_a_lag_shunned_server_comes_back(value: LagReading, expected: str) -> None:
    assert lag_action(LAG, 1, 30, value, lag_count=1, lag_when_null=60).status == expected


@pytest.mark.parametrize("status", ["SHUNNED", "OFFLINE_SOFT"])
def test_other_statuses_only_record_the_lag(status: str) -> None:
    state = lag_action(status, 0, 30, seen(500), lag_count=1, lag_when_null=60)
    assert (state.status, state.lag) == (status, 500)


def test_a_failed_check_keeps_an_online_server_online() -> None:
    # MySQL 8.4 answers SHOW SLAVE STATUS with a syntax error: -3, never shunned by it.
    state = lag_action("ONLINE", 2, 30, FAILED, lag_count=3, lag_when_null=60)
    assert (state.status, state.count) == ("ONLINE", 0)


# -- which rows are checked (monitor_replication_lag) ------------------------------------


def test_only_rows_with_a_max_replication_lag_and_not_offline_are_checked() -> None:
    rows = [*cluster(), server(R, Endpoint("10.0.0.4", 3306), "OFFLINE_SOFT"),
            server(R, Endpoint("10.0.0.5", 3306), "SHUNNED")]
    assert replication_lag_targets(rows, group_by_host=False) == {
        DB2: [R], DB3: [R], Endpoint("10.0.0.5", 3306): [R]}
    both = [server(W, DB2, max_lag=0), server(R, DB2)]
    assert replication_lag_targets(both, group_by_host=False) == {DB2: [R]}
    assert replication_lag_targets(both, group_by_host=True) == {DB2: [W, R]}


# -- RUNTIME servers and the picks (ServerTable, get_random_MySrvC) -----------------------


def test_a_lag_shunned_replica_shows_shunned_and_reads_fall_back_to_the_writer() -> None:
    servers = ServerTable()
    servers.load(cluster())
    messages = apply(servers, DB2, LagReading(LAG_NULL, True))
    assert messages == ["Shunning server 10.0.0.2:3306 from HG 20 with replication lag of "
                        "60 second, count number: '1'"]
    assert (R, "10.0.0.2", "SHUNNED") in statuses(servers.rows())
    assert [(p["srv_host"], p["status"]) for p in servers.pool_rows() if p["hostgroup"] == R
            ] == [("10.0.0.1", "ONLINE"), ("10.0.0.2", LAG), ("10.0.0.3", "ONLINE")]
    assert [r["hostname"] for r in servers.candidates(R, 100, 9, 1)] == ["10.0.0.1", "10.0.0.3"]
    apply(servers, DB3, seen(45))
    # Only the primary's weight-1 row serves reads now.
    assert [r["hostname"] for r in servers.candidates(R, 100, 9, 1)] == ["10.0.0.1"]
    assert apply(servers, DB2, seen(2)) == [
        "Re-enabling server 10.0.0.2:3306 from HG 20 with replication lag of 2 second"]
    assert [r["hostname"] for r in servers.candidates(R, 100, 9, 1)] == ["10.0.0.1", "10.0.0.2"]


def test_lag_shunned_servers_are_no_last_resort() -> None:
    servers = ServerTable()
    servers.load([server(R, DB2), server(R, DB3)])
    apply(servers, DB2, seen(100))
    apply(servers, DB3, seen(100))
    # get_random_MySrvC's "desperate attempt" unshuns only automatically SHUNNED servers.
    assert servers.candidates(R, now_s=10_000, recovery_s=9, last_resort_s=1) == []
    # Missed pings leave a lag-shunned server as it is (shun_and_killall's default case).
    assert not servers.shun_and_killall(DB2, now_s=10_000)
    assert [p["status"] for p in servers.pool_rows()] == [LAG, LAG]


def test_load_keeps_the_lag_shun_while_the_lag_is_over_the_new_limit() -> None:
    servers = ServerTable()
    servers.load(cluster())
    apply(servers, DB2, seen(50))
    servers.load(cluster())                                   # ONLINE, limit 30: kept
    assert servers.pool_rows()[2]["status"] == LAG
    servers.load([*cluster()[:2], server(R, DB2, max_lag=60), server(R, DB3)])
    assert servers.pool_rows()[2]["status"] == "ONLINE"       # 50 <= 60
    apply(servers, DB2, seen(90))
    servers.load([*cluster()[:2], server(R, DB2, max_lag=0), server(R, DB3)])
    assert servers.pool_rows()[2]["status"] == "ONLINE"       # lag check turned off
    apply(servers, DB2, seen(90))                             # max 0: never shunned
    assert servers.pool_rows()[2]["status"] == "ONLINE"
    servers.load([*cluster()[:2], server(R, DB2, max_lag=30), server(R, DB3)])
    apply(servers, DB2, seen(90))
    servers.load([*cluster()[:2], server(R, DB2, "OFFLINE_SOFT"), server(R, DB3)])
    assert servers.pool_rows()[2]["status"] == "OFFLINE_SOFT"  # other statuses as loaded


@pytest.mark.parametrize(("last_lag", "new_max", "kept"), [
    (50, 30, True), (30, 30, False), (50, 0, False), (-3, 30, True), (NOT_A_REPLICA, 30, False)])
def test_keeps_lag_shun_on_load(last_lag: int, new_max: int, kept: bool) -> None:
    assert keeps_lag_shun_on_load(last_lag, new_max) is kept


def test_load_without_evaluating_the_lag_sets_the_loaded_status() -> None:
    servers = ServerTable()
    servers.load(cluster())
    apply(servers, DB2, seen(50))
    servers.load(cluster(), evaluate_lag=False)
    assert servers.pool_rows()[2]["status"] == "ONLINE"


# -- read_only moves with writer_is_also_reader (read_only_action_v2) ---------------------


def test_a_promoted_lag_shunned_replica_comes_online_in_both_hostgroups() -> None:
    rows = [server(W, DB1, max_lag=0), server(R, DB1, weight=1, max_lag=0),
            server(R, DB2, LAG)]
    moved = read_only_action(rows, [ReplicationPair(W, R)], {DB1: 1, DB2: 0}, True)
    assert statuses(moved) == [(W, "10.0.0.1", "OFFLINE_HARD"), (W, "10.0.0.2", "ONLINE"),
                               (R, "10.0.0.1", "ONLINE"), (R, "10.0.0.2", "ONLINE")]
    # The old primary's reader row is the admin's (weight 1), kept as INSERT OR IGNORE does;
    # the new writer row is copied from the reader row (weight 1000, max_replication_lag 30).
    assert [(r["hostgroup_id"], r["hostname"], r["weight"], r["max_replication_lag"])
            for r in moved if r["status"] == "ONLINE"] == [
        (W, "10.0.0.2", 1000, 30), (R, "10.0.0.1", 1, 0), (R, "10.0.0.2", 1000, 30)]


def test_the_writer_in_both_hostgroups_stays_as_configured() -> None:
    rows = cluster()
    assert read_only_action(rows, [ReplicationPair(W, R)], {DB1: 0, DB2: 1, DB3: 1},
                            True) == sorted(rows, key=lambda r: (r["hostgroup_id"],
                                                                 r["hostname"]))


# -- RuntimeConfig ----------------------------------------------------------------------


def test_runtime_uses_the_lag_variables_and_keeps_the_checksum() -> None:
    runtime = RuntimeConfig()
    runtime.load_variables(Module.MYSQL_VARIABLES, [
        {"variable_name": "mysql-monitor_replication_lag_count", "variable_value": "2"},
        {"variable_name": "mysql-monitor_slave_lag_when_null", "variable_value": "45"}])
    runtime.load_tables(Module.MYSQL_SERVERS, {
        "mysql_servers": cluster(),
        "mysql_replication_hostgroups": [
            {"writer_hostgroup": W, "reader_hostgroup": R, "check_type": "read_only"}]})
    before = [r for r in runtime.checksums.rows() if r["name"] == "mysql_servers"]
    assert runtime.replication_lag_targets() == {DB2: [R], DB3: [R]}
    null = LagReading(LAG_NULL, True)
    assert runtime.apply_replication_lag({DB2: ([R], null)}) == []   # count 1 of 2
    assert runtime.apply_replication_lag({DB2: ([R], null)}) != []
    assert runtime.server_table.pool_rows()[2]["status"] == LAG
    assert (R, "10.0.0.2", "SHUNNED") in statuses(runtime.servers())
    assert [r for r in runtime.checksums.rows() if r["name"] == "mysql_servers"] == before
    # A read_only round that moves other servers (a switchover to DB3) leaves DB2's lag
    # status as it is, so the next lag check can re-enable it.
    assert runtime.apply_read_only({DB1: 1, DB2: 1, DB3: 0})
    assert [(p["hostgroup"], p["srv_host"], p["status"])
            for p in runtime.server_table.pool_rows()] == [
        (W, "10.0.0.3", "ONLINE"), (R, "10.0.0.1", "ONLINE"), (R, "10.0.0.2", LAG),
        (R, "10.0.0.3", "ONLINE")]
    assert runtime.apply_replication_lag({DB2: ([R], seen(0))}) != []


def test_a_server_the_monitor_cannot_connect_to_is_left_as_it_is(tmp_path: Path) -> None:
    # monitor_replication_lag_thread: no connection, no log row and no lag action (a failed
    # query would record lag -3, which keeps a lag shun on the next LOAD).
    dead = Endpoint("127.0.0.1", free_port())
    runtime = RuntimeConfig()
    runtime.load_variables(Module.MYSQL_VARIABLES, [
        {"variable_name": "mysql-monitor_connect_timeout", "variable_value": "200"}])
    runtime.load_tables(Module.MYSQL_SERVERS, {"mysql_servers": [server(R, dead)]})
    runtime.apply_replication_lag({dead: ([R], seen(50))})
    store = AdminStore(tmp_path)
    asyncio.run(Monitor(runtime, store).replication_lag_all())
    assert store.execute("SELECT COUNT(*) FROM monitor.mysql_server_replication_lag_log"
                         ).rows == [(0,)]
    runtime.load_tables(Module.MYSQL_SERVERS, {"mysql_servers": [server(R, dead, max_lag=60)]})
    assert runtime.server_table.pool_rows()[0]["status"] == "ONLINE"   # lag 50 <= 60
    runtime.apply_replication_lag({dead: ([R], FAILED)})
    runtime.load_tables(Module.MYSQL_SERVERS, {"mysql_servers": [server(R, dead, max_lag=60)]})
    runtime.apply_replication_lag({dead: ([R], seen(70))})
    runtime.apply_replication_lag({dead: ([R], FAILED)})
    runtime.load_tables(Module.MYSQL_SERVERS, {"mysql_servers": [server(R, dead, max_lag=90)]})
    assert runtime.server_table.pool_rows()[0]["status"] == LAG      # lag -3: kept


# -- the monitor against a real MariaDB ---------------------------------------------------


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    database = MariaDB(tmp_path_factory.mktemp("db")).start()
    try:
        database.sql("CREATE USER 'monitor'@'127.0.0.1' IDENTIFIED BY 'monpw'",
                     "GRANT REPLICATION CLIENT ON *.* TO 'monitor'@'127.0.0.1'",
                     "CREATE USER 'moodle'@'127.0.0.1' IDENTIFIED BY 'moodlepw'")
        yield database
    finally:
        database.stop()


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    proxy = StandIn(tmp_path, mysql_variables={
        "monitor_username": "monitor", "monitor_password": "monpw",
        "monitor_replication_lag_interval": 200, "monitor_ping_interval": 200,
        "monitor_read_only_interval": 600000, "monitor_connect_interval": 600000,
        "connect_timeout_server_max": 1000,
    }).start()
    try:
        yield proxy
    finally:
        assert proxy.stop() == 0, proxy.log()


def test_a_stopped_replica_leaves_the_reader_hostgroup_until_replication_is_gone(
    mariadb: MariaDB, standin: StandIn
) -> None:
    # One mariadbd seen as two servers: "replica" localhost:port (lag-checked) and the
    # "writer" 127.0.0.1:port, kept in the reader hostgroup with weight 1 and no lag check.
    port = mariadb.port
    standin.admin_script([
        "INSERT INTO mysql_servers (hostgroup_id, hostname, port, weight, max_replication_lag)"
        f" VALUES ({W}, '127.0.0.1', {port}, 1000, 0), ({R}, '127.0.0.1', {port}, 1, 0), "
        f"({R}, 'localhost', {port}, 1000, 30)",
        "INSERT INTO mysql_users (username, password, default_hostgroup) VALUES "
        f"('moodle', 'moodlepw', {R})",
        "LOAD MYSQL USERS TO RUNTIME", "LOAD MYSQL SERVERS TO RUNTIME"])

    def status(host: str, table: str = "runtime_mysql_servers") -> str:
        column = "hostname" if table == "runtime_mysql_servers" else "srv_host"
        group = "hostgroup_id" if table == "runtime_mysql_servers" else "hostgroup"
        [(value,)] = standin.admin(f"SELECT status FROM {table} WHERE {group} = {R} "
                                   f"AND {column} = '{host}'")
        return str(value)

    # Replication configured but not running: Seconds_Behind_Master is NULL.
    mariadb.sql(f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={free_port()}, "
                "MASTER_USER='repl'")
    try:
        # With REPLICATION CLIENT only, MariaDB 10.5.9+ refuses SHOW SLAVE STATUS: the check
        # fails, and a failed check never shuns (ProxySQL's lag protection is then off).
        [(error,)] = wait_for("a failed lag check", lambda: standin.admin(
            "SELECT error FROM monitor.mysql_server_replication_lag_log "
            "WHERE hostname = 'localhost' AND repl_lag IS NULL LIMIT 1"))
        assert "SLAVE MONITOR" in error
        assert status("localhost") == "ONLINE"
        mariadb.sql("GRANT SLAVE MONITOR ON *.* TO 'monitor'@'127.0.0.1'")
        wait_for("the stopped replica lag-shunned", lambda: status("localhost") == "SHUNNED")
        assert status("localhost", "stats_mysql_connection_pool") == LAG
        assert status("127.0.0.1") == "ONLINE"
        # The writer's weight-1 row was never checked.
        assert standin.admin("SELECT COUNT(*) FROM monitor.mysql_server_replication_lag_log "
                             "WHERE hostname = '127.0.0.1'") == [("0",)]
        assert (None, None) in standin.admin(
            "SELECT repl_lag, error FROM monitor.mysql_server_replication_lag_log "
            "WHERE hostname = 'localhost'")
        # Reads go to the primary's row: the only candidate left in the reader hostgroup.
        before = int(standin.admin(f"SELECT ConnOK FROM stats_mysql_connection_pool WHERE "
                               f"hostgroup = {R} AND srv_host = '127.0.0.1'")[0][0])
        assert query(standin.client_port, "SELECT 1", "moodle", "moodlepw") == [(1,)]
        assert int(standin.admin(f"SELECT ConnOK FROM stats_mysql_connection_pool WHERE "
                                 f"hostgroup = {R} AND srv_host = '127.0.0.1'")[0][0]) == before + 1
        # LOAD MYSQL SERVERS TO RUNTIME does not bring it back while the lag is NULL.
        standin.admin("LOAD MYSQL SERVERS TO RUNTIME")
        assert status("localhost", "stats_mysql_connection_pool") == LAG
    finally:
        mariadb.sql("RESET SLAVE ALL", "REVOKE SLAVE MONITOR ON *.* FROM 'monitor'@'127.0.0.1'")
    wait_for("the replica back ONLINE", lambda: status("localhost") == "ONLINE")
    assert "Re-enabling server localhost" in standin.log()
