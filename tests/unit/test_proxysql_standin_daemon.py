"""ProxySQL's two processes (src/main.cpp): the angel that holds the pid file and restarts a
crashed child, the child that serves; and the lab's init scripts, which stop every proxysql
process of the instance (as etc/init.d/proxysql does) and no other."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from moodle_wizard.lab.proxysql_standin.process import process_alive
from tests.unit.conftest_proxysql_standin import REPO, StandIn, query, wait_for

FILES = REPO / "moodle_wizard" / "lab" / "files"

Service = Callable[[str], subprocess.CompletedProcess[str]]


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def service_for(script: Path, env: dict[str, str]) -> Service:
    def service(action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(script), action], env=env, capture_output=True,
                              text=True, timeout=60)
    return service


def started(standin: StandIn, service: Service) -> tuple[int, int]:
    """`service proxysql start`; the two processes it left: (the angel, its child)."""
    assert service("start").returncode == 0
    angel = int(standin.pidfile.read_text())
    [child] = children(angel)
    return angel, child


@pytest.fixture
def standin_service(tmp_path: Path) -> Iterator[tuple[StandIn, Service]]:
    script = tmp_path / "proxysql.init"
    script.write_text((FILES / "proxysql.init").read_text().replace("@PYTHON@", sys.executable)
                      .replace("@PYTHONPATH@", str(REPO)))
    standin = StandIn(tmp_path / "px")
    env = {"PATH": os.environ["PATH"], "PROXYSQL_DATADIR": str(standin.datadir),
           "PROXYSQL_CONFIG": str(standin.config_file),
           "PROXYSQL_PIDFILE": str(standin.pidfile), "PROXYSQL_LOGFILE": str(standin.logfile)}
    service = service_for(script, env)
    try:
        yield standin, service
    finally:
        service("stop")


def test_sigterm_to_the_angel_alone_stops_nothing_and_a_crashed_child_is_restarted(
    standin_service: tuple[StandIn, Service],
) -> None:
    standin, service = standin_service
    angel, child = started(standin, service)
    os.kill(angel, signal.SIGTERM)
    wait_for("the angel to log the TERM", lambda: "received TERM" in standin.log())
    assert process_alive(angel) and process_alive(child)
    assert standin.admin("SELECT 1") == [("1",)]

    os.kill(child, signal.SIGKILL)
    # It lived less than 10 s: the angel waits 2 s (ProxySQL's back-off), then forks anew.
    wait_for("a new child", lambda: [p for p in children(angel) if p != child], timeout=15)
    assert not process_alive(child)
    wait_for("the new child to serve", lambda: standin.admin("SELECT 1") == [("1",)])
    assert "Restarting!" in standin.log()
    assert int(standin.pidfile.read_text()) == angel


def test_stop_leaves_no_process_and_closes_the_client_port(
    standin_service: tuple[StandIn, Service],
) -> None:
    standin, service = standin_service
    assert service("status").returncode == 3
    angel, child = started(standin, service)
    assert listening(standin.client_port)
    status = service("status")
    assert status.returncode == 0 and str(child) in status.stdout, status.stdout
    stopped = service("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    # Gone when stop returns: what keepalived's track script then sees.
    assert not process_alive(angel) and not process_alive(child)
    assert not listening(standin.client_port)
    assert service("status").returncode == 3


def test_an_orphaned_child_counts_as_running_and_is_stopped(
    standin_service: tuple[StandIn, Service],
) -> None:
    standin, service = standin_service
    angel, child = started(standin, service)
    os.kill(angel, signal.SIGKILL)
    wait_for("the angel to go", lambda: not process_alive(angel))
    assert standin.admin("SELECT 1") == [("1",)]
    status = service("status")
    assert status.returncode == 0 and str(child) in status.stdout, status.stdout
    assert service("start").returncode == 0  # already running: nothing started
    assert service("stop").returncode == 0
    assert not process_alive(child)
    assert service("status").returncode == 3


def test_stop_leaves_another_instance_alone(
    tmp_path: Path, standin_service: tuple[StandIn, Service],
) -> None:
    _, service = standin_service
    other = StandIn(tmp_path / "other").start()
    try:
        assert service("start").returncode == 0
        assert service("stop").returncode == 0
        assert other.process is not None and other.process.poll() is None
        assert query(other.admin_port, "SELECT 1") == [("1",)]
    finally:
        assert other.stop() == 0


def test_binary_init_script_stops_every_proxysql_of_its_executable(tmp_path: Path) -> None:
    # Two processes named proxysql running the lab's binary (a copy of sleep stands for it:
    # comm and exe are what the script matches), one of another executable also named
    # proxysql: stop ends the first two and leaves the third.
    (tmp_path / "bin").mkdir()
    (tmp_path / "elsewhere").mkdir()
    daemon = tmp_path / "bin" / "proxysql"
    stranger = tmp_path / "elsewhere" / "proxysql"
    sleep = shutil.which("sleep")
    assert sleep is not None
    shutil.copy(sleep, daemon)
    shutil.copy(sleep, stranger)
    pidfile = tmp_path / "proxysql.pid"
    env = {"PATH": os.environ["PATH"], "PROXYSQL_DAEMON": str(daemon),
           "PROXYSQL_DATADIR": str(tmp_path), "PROXYSQL_PIDFILE": str(pidfile)}
    service = service_for(FILES / "proxysql-binary.init", env)
    assert service("status").returncode == 3
    procs = [subprocess.Popen([str(exe), "300"]) for exe in (daemon, daemon, stranger)]
    try:
        pidfile.write_text(f"{procs[0].pid}\n")
        status = service("status")
        assert status.returncode == 0, status.stdout
        assert all(str(p.pid) in status.stdout for p in procs[:2]), status.stdout
        assert str(procs[2].pid) not in status.stdout
        stopped = service("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert [p.wait(timeout=5) for p in procs[:2]] == [-signal.SIGTERM] * 2
        assert procs[2].poll() is None
        assert not pidfile.exists()
        assert service("status").returncode == 3
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
