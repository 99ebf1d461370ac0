"""When the stand-in gives up on a backend, as ProxySQL 2.7 does.

lib/MySQL_Monitor.cpp MySQL_Monitor::monitor_ping runs every mysql-monitor_ping_interval
ms and starts over at once only when the variables' global version changes (LOAD MYSQL
VARIABLES); LOAD MYSQL SERVERS TO RUNTIME sets the configured statuses
(MySQL_HostGroups_Manager::commit) and the monitor sees them on its next round. So a
server that is down, loaded ONLINE, stays ONLINE until a ping round has found its last
mysql-monitor_ping_max_failures pings failed (or traffic has failed shun_on_failures
times in a second: lib/MySrvC.cpp MySrvC::connect_error, which counts "Server shutdown in
progress" too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moodle_wizard.lab.proxysql_standin.servers import counted_error
from tests.unit.conftest_proxysql_standin import StandIn, free_port, wait_for

PING_INTERVAL_MS = 1500
HG = 30


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandIn]:
    proxy = StandIn(tmp_path, mysql_variables={
        "monitor_ping_interval": PING_INTERVAL_MS, "monitor_ping_timeout": 200,
        "monitor_connect_interval": 600000, "monitor_read_only_interval": 600000,
    }).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def status(proxy: StandIn, port: int) -> str:
    [(value,)] = proxy.admin(f"SELECT status FROM runtime_mysql_servers WHERE port = {port}")
    return str(value)


def ping_starts(proxy: StandIn, port: int) -> list[int]:
    return [int(t) for (t,) in proxy.admin(
        f"SELECT time_start_us FROM monitor.mysql_server_ping_log WHERE port = {port} "
        "ORDER BY time_start_us")]


def test_a_down_server_loaded_online_waits_for_the_next_ping_round(standin: StandIn) -> None:
    dead = free_port()
    standin.admin_script([f"INSERT INTO mysql_servers (hostgroup_id, hostname, port) "
                          f"VALUES ({HG}, '127.0.0.1', {dead})",
                          "LOAD MYSQL SERVERS TO RUNTIME"])
    # Three missed pings, one per round, before it is shunned.
    wait_for("the dead server to be shunned", lambda: status(standin, dead) == "SHUNNED",
             timeout=4 * PING_INTERVAL_MS / 1000 + 5)
    assert len(ping_starts(standin, dead)) >= 3

    # Loaded ONLINE again (the operator's LOAD wins), it stays so until the next round.
    standin.admin("LOAD MYSQL SERVERS TO RUNTIME")
    assert status(standin, dead) == "ONLINE"
    before = ping_starts(standin, dead)
    after = wait_for("the next ping round", lambda: (
        pings if len(pings := ping_starts(standin, dead)) > len(before) else None),
        timeout=PING_INTERVAL_MS / 1000 + 5)
    # Not pinged at the LOAD: the next ping comes a whole interval after the last one.
    gap_ms = (after[len(before)] - before[-1]) / 1000
    assert gap_ms >= PING_INTERVAL_MS * 0.9, gap_ms
    wait_for("it to be shunned again", lambda: status(standin, dead) == "SHUNNED")


def test_load_mysql_variables_starts_the_monitor_over(standin: StandIn) -> None:
    dead = free_port()
    standin.admin_script([f"INSERT INTO mysql_servers (hostgroup_id, hostname, port) "
                          f"VALUES ({HG}, '127.0.0.1', {dead})",
                          "LOAD MYSQL SERVERS TO RUNTIME"])
    first = wait_for("a first ping", lambda: ping_starts(standin, dead))
    standin.admin("LOAD MYSQL VARIABLES TO RUNTIME")
    pings = wait_for("a ping after the LOAD", lambda: (
        p if len(p := ping_starts(standin, dead)) > len(first) else None))
    assert (pings[len(first)] - first[-1]) / 1000 < PING_INTERVAL_MS * 0.9


@pytest.mark.parametrize(("code", "counted"), [
    (2003, True), (2013, True), (1053, True), (1105, True), (1137, True),
    (1045, False), (1044, False), (1049, False), (1136, False), (1226, False),
    (1146, False), (3118, False),
])
def test_connect_errors_that_count_towards_shunning(code: int, counted: bool) -> None:
    assert counted_error(code) is counted
