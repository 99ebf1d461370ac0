"""RUNTIME servers of the ProxySQL stand-in: read_only moves, statuses, shunning, the pool.

Each expectation is ProxySQL 2.7's (lib/MySQL_HostGroups_Manager.cpp read_only_action_v2,
HostGroup_Server_Mapping, shun_and_killall, purge_mysql_servers_table; lib/MyHGC.cpp
get_random_MySrvC; lib/MySrvC.cpp connect_error; lib/MySQL_Monitor.cpp queries).
"""

from __future__ import annotations

from typing import Any

import pytest

from moodle_wizard.lab.proxysql_standin.modules import Module
from moodle_wizard.lab.proxysql_standin.runtime import RuntimeConfig
from moodle_wizard.lab.proxysql_standin.servers import ServerTable
from moodle_wizard.lab.proxysql_standin.topology import (
    Endpoint,
    ReplicationPair,
    monitored_servers,
    read_only_action,
    read_only_targets,
)

DB1, DB2 = Endpoint("10.0.0.1", 3306), Endpoint("10.0.0.2", 3306)
W, R = 10, 20
PAIR = [ReplicationPair(W, R)]


def server(hostgroup: int, endpoint: Endpoint, status: str = "ONLINE",
           **extra: Any) -> dict[str, Any]:
    return {"hostgroup_id": hostgroup, "hostname": endpoint.hostname, "port": endpoint.port,
            "status": status, "weight": 1, "comment": "", **extra}


def placed(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["hostgroup_id"], r["hostname"], r["status"]) for r in rows]


# -- read_only_action (read_only_action_v2) ------------------------------------------


@pytest.mark.parametrize("also_reader", [True, False])
def test_read_only_writer_moves_to_the_reader_hostgroup(also_reader: bool) -> None:
    rows = read_only_action([server(W, DB1), server(R, DB2)], PAIR, {DB1: 1}, also_reader)
    # The writer row turns OFFLINE_HARD (hidden once its connections are gone).
    assert placed(rows) == [(W, "10.0.0.1", "OFFLINE_HARD"), (R, "10.0.0.1", "ONLINE"),
                            (R, "10.0.0.2", "ONLINE")]


def test_moved_writer_keeps_its_offline_soft_status() -> None:
    rows = read_only_action([server(W, DB1, "OFFLINE_SOFT")], PAIR, {DB1: 1}, False)
    assert placed(rows) == [(W, "10.0.0.1", "OFFLINE_HARD"), (R, "10.0.0.1", "OFFLINE_SOFT")]


def test_existing_reader_row_is_kept_as_it_is() -> None:
    rows = read_only_action([server(W, DB1, "OFFLINE_SOFT"), server(R, DB1, "ONLINE", weight=5)],
                            PAIR, {DB1: 1}, True)
    assert placed(rows) == [(W, "10.0.0.1", "OFFLINE_HARD"), (R, "10.0.0.1", "ONLINE")]
    assert rows[1]["weight"] == 5


def test_promoted_replica_joins_the_writer_hostgroup_with_its_status() -> None:
    configured = [server(W, DB1, "OFFLINE_SOFT"), server(R, DB2, weight=7, comment="replica")]
    rows = read_only_action(configured, PAIR, {DB2: 0}, False)
    assert placed(rows) == [(W, "10.0.0.1", "OFFLINE_SOFT"), (W, "10.0.0.2", "ONLINE"),
                            (R, "10.0.0.2", "OFFLINE_HARD")]
    assert (rows[1]["weight"], rows[1]["comment"]) == (7, "replica")
    rows = read_only_action(configured, PAIR, {DB2: 0}, True)
    assert placed(rows) == [(W, "10.0.0.1", "OFFLINE_SOFT"), (W, "10.0.0.2", "ONLINE"),
                            (R, "10.0.0.2", "ONLINE")]


def test_a_shunned_reader_that_answers_read_only_0_comes_online() -> None:
    rows = read_only_action([server(R, DB2, "SHUNNED")], PAIR, {DB2: 0}, True)
    assert placed(rows) == [(W, "10.0.0.2", "ONLINE"), (R, "10.0.0.2", "ONLINE")]


def test_a_writer_also_in_the_reader_hostgroup_stays_in_both() -> None:
    configured = [server(W, DB1), server(R, DB1)]
    assert placed(read_only_action(configured, PAIR, {DB1: 0}, False)) == placed(configured)


def test_hidden_offline_hard_row_is_revived_online() -> None:
    rows = read_only_action([server(W, DB2, "OFFLINE_HARD", weight=1),
                             server(R, DB2, "SHUNNED", weight=9)], PAIR, {DB2: 0}, True)
    assert placed(rows) == [(W, "10.0.0.2", "ONLINE"), (R, "10.0.0.2", "ONLINE")]
    assert rows[0]["weight"] == 9


@pytest.mark.parametrize("read_only", [0, 1])
def test_offline_hard_rows_are_never_moved(read_only: int) -> None:
    configured = [server(W, DB1, "OFFLINE_HARD"), server(R, DB2, "OFFLINE_HARD")]
    rows = read_only_action(configured, PAIR, {DB1: read_only, DB2: read_only}, False)
    assert placed(rows) == placed(configured)


def test_servers_outside_replication_hostgroups_are_left_alone() -> None:
    configured = [server(30, DB1)]
    assert placed(read_only_action(configured, PAIR, {DB1: 0}, False)) == placed(configured)


def test_read_only_targets_leave_out_offline_servers() -> None:
    rows = [server(W, DB1, "OFFLINE_SOFT"), server(R, DB2), server(R, Endpoint("x", 1), "SHUNNED"),
            server(R, Endpoint("h", 1), "OFFLINE_HARD"), server(30, Endpoint("o", 1))]
    assert read_only_targets(rows, PAIR) == {DB2: "read_only", Endpoint("x", 1): "read_only"}
    # An OFFLINE_SOFT writer that is also an ONLINE reader is still checked.
    assert DB1 in read_only_targets([*rows, server(R, DB1)], PAIR)


def test_ping_and_connect_checks_watch_all_but_offline_hard() -> None:
    rows = [server(W, DB1, "OFFLINE_SOFT"), server(R, DB2, "SHUNNED"),
            server(R, Endpoint("h", 1), "OFFLINE_HARD")]
    assert monitored_servers(rows) == [DB1, DB2]


# -- ServerTable: loads, purge, shunning, the pool ----------------------------------------


def table(*rows: dict[str, Any]) -> ServerTable:
    servers = ServerTable()
    servers.load(rows)
    return servers


def test_offline_hard_rows_show_only_while_they_have_connections() -> None:
    servers = table(server(W, DB1), server(R, DB1, "OFFLINE_HARD"))
    assert placed(servers.rows()) == [(W, "10.0.0.1", "ONLINE")]
    token = servers.acquire(W, DB1, lambda: None)
    servers.load([server(R, DB2)])        # DB1 no longer configured
    assert placed(servers.rows()) == [(W, "10.0.0.1", "OFFLINE_HARD"), (R, "10.0.0.2", "ONLINE")]
    servers.release(W, DB1, token)
    assert placed(servers.rows()) == [(R, "10.0.0.2", "ONLINE")]


def test_moved_writer_with_a_used_connection_shows_offline_hard() -> None:
    servers = table(server(W, DB1))
    servers.acquire(W, DB1, lambda: None)
    assert servers.apply_read_only(PAIR, {DB1: 1}, False)
    assert [(p["hostgroup"], p["status"], p["ConnUsed"]) for p in servers.pool_rows()] == [
        (W, "OFFLINE_HARD", 1), (R, "ONLINE", 0)]
    assert not servers.apply_read_only(PAIR, {DB1: 1}, False)


def test_missed_pings_shun_online_rows_and_close_their_connections() -> None:
    servers = table(server(W, DB1), server(R, DB1, "OFFLINE_SOFT"), server(30, DB1, "SHUNNED"),
                    server(40, DB1, "OFFLINE_HARD"), server(R, DB2))
    closed: list[int] = []
    servers.acquire(W, DB1, lambda: closed.append(1))
    servers.acquire(R, DB1, lambda: closed.append(2))
    assert servers.shun_and_killall(DB1, now_s=100)
    assert placed(servers.rows()) == [
        (W, "10.0.0.1", "SHUNNED"), (R, "10.0.0.1", "OFFLINE_SOFT"), (R, "10.0.0.2", "ONLINE"),
        (30, "10.0.0.1", "SHUNNED")]
    assert sorted(closed) == [1, 2]
    assert not servers.shun_and_killall(DB1, now_s=101)   # nothing was ONLINE any more


def test_shunned_servers_recover_after_the_recovery_time_when_asked_for() -> None:
    # DB2 keeps the writer hostgroup served, so only the recovery time brings DB1 back.
    servers = table(server(W, DB1), server(W, DB2), server(R, DB2, "SHUNNED"))
    servers.shun_and_killall(DB1, now_s=100)
    assert placed(servers.candidates(W, now_s=110, recovery_s=10, last_resort_s=1)) == [
        (W, "10.0.0.2", "ONLINE")]
    assert placed(servers.candidates(W, now_s=111, recovery_s=10, last_resort_s=1)) == [
        (W, "10.0.0.1", "ONLINE"), (W, "10.0.0.2", "ONLINE")]
    # Configured SHUNNED is not an automatic shun: it stays, even as a last resort.
    assert servers.candidates(R, now_s=1000, recovery_s=10, last_resort_s=1) == []


def test_offline_servers_are_never_candidates() -> None:
    servers = table(server(W, DB1, "OFFLINE_SOFT"), server(W, DB2, "OFFLINE_HARD"))
    assert servers.candidates(W, now_s=0, recovery_s=10, last_resort_s=1) == []


def test_connect_errors_in_one_second_shun_the_server() -> None:
    servers = table(server(W, DB1), server(R, DB1))
    assert not servers.connect_error(W, DB1, 2003, now_s=5, max_failures=3)
    assert not servers.connect_error(W, DB1, 2003, now_s=6, max_failures=3)
    assert not servers.connect_error(W, DB1, 1045, now_s=6, max_failures=3)  # access denied
    assert not servers.connect_error(W, DB1, 2003, now_s=6, max_failures=3)
    assert servers.connect_error(W, DB1, 2003, now_s=6, max_failures=3)
    assert placed(servers.rows()) == [(W, "10.0.0.1", "SHUNNED"), (R, "10.0.0.1", "ONLINE")]
    assert servers.pool_rows()[0]["ConnERR"] == 5


def test_load_resets_statuses_to_the_configured_ones() -> None:
    servers = table(server(W, DB1))
    servers.shun_and_killall(DB1, now_s=1)
    servers.load([server(W, DB1)])
    assert placed(servers.rows()) == [(W, "10.0.0.1", "ONLINE")]


def test_pool_counts_used_connections_and_outcomes() -> None:
    servers = table(server(W, DB1, "OFFLINE_SOFT"), server(R, DB2))
    first = servers.acquire(W, DB1, lambda: None)
    servers.connected(W, DB1)
    servers.acquire(W, DB1, lambda: None)
    servers.release(W, DB1, first)
    assert [(p["hostgroup"], p["srv_host"], p["status"], p["ConnUsed"], p["ConnFree"],
             p["ConnOK"], p["MaxConnUsed"]) for p in servers.pool_rows()] == [
        (W, "10.0.0.1", "OFFLINE_SOFT", 1, 0, 1, 2), (R, "10.0.0.2", "ONLINE", 0, 0, 0, 0)]


# -- RuntimeConfig ----------------------------------------------------------------------


def runtime_with(*rows: dict[str, Any]) -> RuntimeConfig:
    runtime = RuntimeConfig()
    runtime.load_variables(Module.MYSQL_VARIABLES, [
        {"variable_name": "mysql-monitor_writer_is_also_reader", "variable_value": "false"}])
    runtime.load_tables(Module.MYSQL_SERVERS, {
        "mysql_servers": list(rows),
        "mysql_replication_hostgroups": [
            {"writer_hostgroup": W, "reader_hostgroup": R, "check_type": "read_only"}]})
    return runtime


def test_switchover_steps_at_runtime() -> None:
    runtime = runtime_with(server(W, DB1, "OFFLINE_SOFT"), server(R, DB2))
    assert runtime.online_servers(W) == []            # new queries wait
    assert runtime.read_only_targets() == {DB2: "read_only"}  # DB1 is not checked
    assert runtime.apply_read_only({DB2: 0})          # the promoted replica
    assert placed(runtime.servers()) == [(W, "10.0.0.1", "OFFLINE_SOFT"), (W, "10.0.0.2", "ONLINE")]
    assert placed(runtime.online_servers(W)) == [(W, "10.0.0.2", "ONLINE")]


def test_shunning_does_not_change_the_servers_checksum() -> None:
    runtime = runtime_with(server(W, DB1), server(R, DB2))
    before = [r for r in runtime.checksums.rows() if r["name"] == "mysql_servers"]
    runtime.server_table.shun_and_killall(DB1, now_s=1)
    assert [r for r in runtime.checksums.rows() if r["name"] == "mysql_servers"] == before
    assert runtime.apply_read_only({DB1: 1})
    assert [r for r in runtime.checksums.rows() if r["name"] == "mysql_servers"] != before
