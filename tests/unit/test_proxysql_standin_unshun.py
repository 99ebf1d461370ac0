"""How the stand-in brings back a writer that restarts behind it, as ProxySQL 2.7 does.

lib/MySrvC.cpp MySrvC::connect_error shuns a server after min(shun_on_failures,
connect_retries_on_failure + 1) failed connects in one second. lib/MyHGC.cpp
MyHGC::get_random_MySrvC brings an automatically shunned server back after
``shun_recovery_time_sec`` (at most connect_timeout_server_max/1000 - 1), or, when the
hostgroup has no server left, after a tenth of it (at least 1 s: issue #531's "desperate
attempt"). lib/MySQL_Session.cpp handler_again___status_CONNECTING_SERVER asks again every
``connect_retries_delay`` ms and gives up after ``connect_retries_on_failure`` retries.
So a lone writer that restarts is tried again about every 2 s, not after 9 s.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pymysql
import pytest

from moodle_wizard.lab.proxysql_standin import runtime as runtime_module
from moodle_wizard.lab.proxysql_standin.modules import Module
from moodle_wizard.lab.proxysql_standin.runtime import RuntimeConfig
from moodle_wizard.lab.proxysql_standin.servers import ServerTable
from moodle_wizard.lab.proxysql_standin.topology import Endpoint
from tests.unit.conftest_proxysql_standin import (
    MariaDB,
    StandIn,
    free_port,
    query,
    wait_for,
)

DB1, DB2 = Endpoint("10.0.0.1", 3306), Endpoint("10.0.0.2", 3306)
W = 10


def server(endpoint: Endpoint, status: str = "ONLINE") -> dict[str, Any]:
    return {"hostgroup_id": W, "hostname": endpoint.hostname, "port": endpoint.port,
            "status": status, "weight": 1, "comment": ""}


def shun_by_errors(servers: ServerTable, endpoint: Endpoint, now_s: int) -> None:
    for _ in range(4):
        assert not servers.connect_error(W, endpoint, 2003, now_s=now_s, max_failures=5)
    assert servers.connect_error(W, endpoint, 2003, now_s=now_s, max_failures=5)


# -- ServerTable with a simulated clock ------------------------------------------------


def test_a_lone_shunned_writer_comes_back_as_a_last_resort() -> None:
    servers = ServerTable()
    servers.load([server(DB1)])
    shun_by_errors(servers, DB1, now_s=100)
    assert servers.candidates(W, now_s=101, recovery_s=9, last_resort_s=1) == []
    assert [r["status"] for r in servers.candidates(W, now_s=102, recovery_s=9,
                                                    last_resort_s=1)] == ["ONLINE"]
    # Its error count starts again: one more failure in the same second does not shun it.
    assert not servers.connect_error(W, DB1, 2003, now_s=102, max_failures=5)


def test_the_last_resort_waits_while_another_server_serves() -> None:
    servers = ServerTable()
    servers.load([server(DB1), server(DB2)])
    shun_by_errors(servers, DB1, now_s=100)
    assert [r["hostname"] for r in servers.candidates(W, 102, 9, 1)] == [DB2.hostname]
    assert [r["hostname"] for r in servers.candidates(W, 110, 9, 1)] == [
        DB1.hostname, DB2.hostname]


def test_the_last_resort_ignores_the_recovery_being_off() -> None:
    # shun_recovery_time_sec = 0 turns off the recovery, not ProxySQL's last resort.
    servers = ServerTable()
    servers.load([server(DB1)])
    shun_by_errors(servers, DB1, now_s=100)
    assert [r["status"] for r in servers.candidates(W, 102, 0, 1)] == ["ONLINE"]


# -- RuntimeConfig: the waits derived from the variables ---------------------------------


def runtime_with(variables: dict[str, int], *rows: dict[str, Any]) -> RuntimeConfig:
    runtime = RuntimeConfig()
    runtime.load_variables(Module.MYSQL_VARIABLES, [
        {"variable_name": f"mysql-{name}", "variable_value": str(value)}
        for name, value in variables.items()])
    runtime.load_tables(Module.MYSQL_SERVERS, {"mysql_servers": list(rows)})
    return runtime


@pytest.mark.parametrize(
    ("recovery_s", "timeout_max_ms", "lone_back_after", "paired_back_after"),
    [
        (10, 10000, 2, 10),     # ProxySQL's defaults, the wizard's: waits 1 and 9 s
        (60, 30000, 3, 30),     # capped by connect_timeout_server_max: 2 and 29 s
        (30, 60000, 4, 31),     # a tenth of the recovery time: 3 and 30 s
        (5, 10000, 2, 6),       # the last resort waits at least 1 s
    ],
)
def test_unshun_times_follow_proxysql(
    monkeypatch: pytest.MonkeyPatch, recovery_s: int, timeout_max_ms: int,
    lone_back_after: int, paired_back_after: int,
) -> None:
    clock = SimpleNamespace(time=lambda: 0.0)
    monkeypatch.setattr(runtime_module, "time", clock)
    variables = {"shun_recovery_time_sec": recovery_s,
                 "connect_timeout_server_max": timeout_max_ms}

    def back_after(*rows: dict[str, Any]) -> int:
        runtime = runtime_with(variables, *rows)
        shun_by_errors(runtime.server_table, DB1, now_s=1000)
        for elapsed in range(0, 100):
            clock.time = lambda elapsed=elapsed: 1000.0 + elapsed + 0.5
            if DB1.hostname in [r["hostname"] for r in runtime.online_servers(W)]:
                return elapsed
        raise AssertionError("never back")

    assert back_after(server(DB1)) == lone_back_after
    assert back_after(server(DB1), server(DB2)) == paired_back_after


# -- the stand-in process, its lone writer behind a port that goes down and up ----------


class Gate:
    """A TCP forwarder to a MariaDB that can refuse connections (down) and accept them
    again (up) on the same port, like a server restarting."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            # shutdown, not just close: it stops the listening at once (Linux), even with
            # the accepting thread still inside accept().
            self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            backend = socket.create_connection(("127.0.0.1", self.target))
            for source, sink in ((client, backend), (backend, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gate, StandIn]]:
    db = MariaDB(tmp_path_factory.mktemp("db")).start()
    standin: StandIn | None = None
    try:
        db.sql("CREATE USER 'moodle'@'127.0.0.1' IDENTIFIED BY 'moodlepw'")
        gate = Gate(db.port)
        gate.up()
        # No monitor: only the sessions' own connects shun and unshun here.
        standin = StandIn(tmp_path_factory.mktemp("proxy"), mysql_variables={
            "monitor_enabled": "false"}).start()
        standin.admin_script([
            f"INSERT INTO mysql_servers (hostgroup_id, hostname, port) "
            f"VALUES ({W}, '127.0.0.1', {gate.port})",
            f"INSERT INTO mysql_users (username, password, default_hostgroup) "
            f"VALUES ('moodle', 'moodlepw', {W})",
            "LOAD MYSQL SERVERS TO RUNTIME", "LOAD MYSQL USERS TO RUNTIME"])
        yield gate, standin
    finally:
        if standin is not None:
            assert standin.stop() == 0, standin.log()
        db.stop()


def pool(standin: StandIn) -> tuple[str, int, int]:
    status, ok, err = standin.admin(
        f"SELECT status, ConnOK, ConnERR FROM stats_mysql_connection_pool "
        f"WHERE hostgroup = {W}")[0]
    return str(status), int(ok), int(err)


def test_a_restarting_lone_writer_is_used_again_within_two_seconds(
    gated: tuple[Gate, StandIn],
) -> None:
    gate, standin = gated
    assert query(standin.client_port, "SELECT 1", "moodle", "moodlepw") == [(1,)]
    _, ok, errors = pool(standin)
    gate.down()
    with ThreadPoolExecutor(1) as pool_:
        started = time.monotonic()
        waiting = pool_.submit(query, standin.client_port, "SELECT 2", "moodle", "moodlepw")
        wait_for("the writer shunned by the query's refused connects",
                 lambda: pool(standin)[0] == "SHUNNED")
        gate.up()
        back = time.monotonic()
        _, _, shunned_at = pool(standin)
        assert waiting.result(timeout=15) == [(2,)]
        done = time.monotonic()
    # min(shun_on_failures 5, connect_retries_on_failure 10 + 1) refused connects in one
    # second (more if they straddled a second), and none while it was shunned.
    assert shunned_at - errors >= 5
    assert pool(standin) == ("ONLINE", ok + 1, shunned_at)
    # Back at the second boundary 2 s after the shun's second (the last resort's > 1 s),
    # not after the 9 s of the recovery time; polled every connect_retries_delay meanwhile.
    assert done - back < 2.5, f"the query waited {done - back:.2f} s after the server was up"
    assert done - started > 1.0


def test_a_session_gives_up_after_its_connect_retries(gated: tuple[Gate, StandIn]) -> None:
    gate, standin = gated
    standin.admin_script([
        "UPDATE global_variables SET variable_value = '2' "
        "WHERE variable_name = 'mysql-connect_retries_on_failure'",
        "LOAD MYSQL VARIABLES TO RUNTIME"])
    gate.down()
    try:
        _, ok, errors = pool(standin)
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as failed:
            query(standin.client_port, "SELECT 1", "moodle", "moodlepw")
        # The backend's own error after 1 + 2 connects, long before the 10 s of 9001.
        assert failed.value.args[0] == 2003, failed.value.args
        assert time.monotonic() - started < 5
        assert pool(standin)[1:] == (ok, errors + 3)
    finally:
        gate.up()
        standin.admin_script([
            "UPDATE global_variables SET variable_value = '10' "
            "WHERE variable_name = 'mysql-connect_retries_on_failure'",
            "LOAD MYSQL VARIABLES TO RUNTIME", "LOAD MYSQL SERVERS TO RUNTIME"])
