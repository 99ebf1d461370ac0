"""The stand-in as a service: persistence across restarts, daemon mode, pid file, init script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

from moodle_wizard.lab.proxysql_standin.process import process_alive
from tests.unit.conftest_proxysql_standin import REPO, StandIn, connect, query, wait_for


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


INIT_SCRIPT = REPO / "moodle_wizard" / "lab" / "files" / "proxysql.init"


def memory_and_runtime(standin: StandIn, sql_tail: str) -> tuple[list[tuple[object, ...]], ...]:
    return (standin.admin(f"SELECT {sql_tail.replace('@', '')}"),
            standin.admin(f"SELECT {sql_tail.replace('@', 'runtime_')}"))


def test_saved_config_survives_a_restart_and_unsaved_does_not(tmp_path: Path) -> None:
    standin = StandIn(tmp_path).start()
    standin.admin_script([
        "INSERT INTO mysql_servers (hostgroup_id, hostname) VALUES (10, '192.0.2.1')",
        "INSERT INTO mysql_users (username, password, default_hostgroup) "
        "VALUES ('moodle', 'pw', 10)",
        "SET mysql-server_version='10.11.6-MariaDB'",
        "LOAD MYSQL SERVERS TO RUNTIME", "SAVE MYSQL SERVERS TO DISK",
        "LOAD MYSQL VARIABLES TO RUNTIME", "SAVE MYSQL VARIABLES TO DISK",
        "LOAD MYSQL USERS TO RUNTIME",  # loaded but never saved
    ])
    # Only the first start reads the config file; this change must not matter.
    standin.config_file.write_text(standin.config_file.read_text().replace(
        "interfaces=", 'server_version="5.5.5-from-cnf"\n    interfaces='))
    assert standin.stop() == 0
    assert not standin.pidfile.exists()
    assert "stopped" in standin.log()

    standin.start()
    assert memory_and_runtime(standin, "hostgroup_id, hostname FROM @mysql_servers") == (
        [("10", "192.0.2.1")], [("10", "192.0.2.1")])
    assert memory_and_runtime(standin, "username FROM @mysql_users") == ([], [])
    assert memory_and_runtime(
        standin, "variable_value FROM @global_variables "
        "WHERE variable_name='mysql-server_version'") == (
        [("10.11.6-MariaDB",)], [("10.11.6-MariaDB",)])
    assert standin.stop() == 0


def test_initial_discards_the_disk_database(tmp_path: Path) -> None:
    standin = StandIn(tmp_path).start()
    standin.admin_script(["INSERT INTO proxysql_servers (hostname) VALUES ('px2')",
                          "SAVE PROXYSQL SERVERS TO DISK"])
    assert standin.stop() == 0
    standin.start("--initial")
    assert standin.admin("SELECT hostname FROM proxysql_servers") == []
    assert standin.admin("SELECT hostname FROM disk.proxysql_servers") == []
    assert standin.stop() == 0


def test_sigterm_ends_open_sessions_cleanly(tmp_path: Path) -> None:
    standin = StandIn(tmp_path).start()
    session = connect(standin.admin_port, "admin", "admin")
    assert standin.stop() == 0
    with pytest.raises(pymysql.err.OperationalError):
        session.ping(reconnect=False)


def test_second_instance_on_the_same_pid_file_is_refused(tmp_path: Path) -> None:
    standin = StandIn(tmp_path).start()
    try:
        second = subprocess.run(
            standin.command("--foreground"), env=standin.environment(),
            capture_output=True, text=True, timeout=30,
        )
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert standin.process is not None
        assert standin.pidfile.read_text().strip() == str(standin.process.pid)
    finally:
        assert standin.stop() == 0


def test_daemon_mode_returns_when_listening_and_stops_on_sigterm(tmp_path: Path) -> None:
    # As ProxySQL: the pid file names the angel; the child it forked serves; SIGTERM to
    # the child stops it cleanly and the angel with it.
    standin = StandIn(tmp_path)
    started = subprocess.run(standin.command("--daemon"), env=standin.environment(),
                             capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, started.stderr
    angel = int(standin.pidfile.read_text())
    [child] = children(angel)
    try:
        # No waiting needed: --daemon returned only once the ports were open.
        assert standin.admin("SELECT @@version_comment") != []
        for pid in (angel, child):
            assert Path(f"/proc/{pid}/comm").read_text().strip() == "proxysql"
    finally:
        os.kill(child, signal.SIGTERM)
    wait_for("the daemon to exit", lambda: not process_alive(angel))
    assert not process_alive(child)
    assert not standin.pidfile.exists()
    assert "shutdown angel process" in standin.log()


def test_daemon_reports_a_failed_start(tmp_path: Path) -> None:
    standin = StandIn(tmp_path)
    blocker = StandIn(tmp_path / "blocker").start()
    try:
        # Same admin port as a running instance: the daemon cannot listen.
        standin.config_file.write_text(standin.config_file.read_text().replace(
            str(standin.admin_port), str(blocker.admin_port)))
        started = subprocess.run(standin.command("--daemon"), env=standin.environment(),
                                 capture_output=True, text=True, timeout=30)
        assert started.returncode == 1
        assert "failed to start" in started.stderr
        assert not standin.pidfile.exists()
    finally:
        assert blocker.stop() == 0


@pytest.fixture
def init_script(tmp_path: Path) -> Path:
    script = tmp_path / "proxysql"
    # The interpreter as invoked (a venv's bin/python), not its resolved target,
    # or the venv's packages are not found.
    script.write_text(INIT_SCRIPT.read_text().replace("@PYTHON@", sys.executable)
                      .replace("@PYTHONPATH@", str(REPO)))
    script.chmod(0o755)
    return script


def test_init_script_start_status_stop(tmp_path: Path, init_script: Path) -> None:
    standin = StandIn(tmp_path)
    env = {"PATH": os.environ["PATH"], "PROXYSQL_DATADIR": str(standin.datadir),
           "PROXYSQL_CONFIG": str(standin.config_file),
           "PROXYSQL_PIDFILE": str(standin.pidfile), "PROXYSQL_LOGFILE": str(standin.logfile)}

    def service(action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(init_script), action], env=env, capture_output=True,
                              text=True, timeout=60)

    assert service("status").returncode == 3
    started = service("start")
    assert started.returncode == 0, started.stdout + started.stderr + standin.log()
    pid = int(standin.pidfile.read_text())
    try:
        assert service("status").returncode == 0
        assert query(standin.admin_port, "SELECT @@version")
        assert service("start").returncode == 0  # already running: still success
        assert int(standin.pidfile.read_text()) == pid
    finally:
        stopped = service("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    wait_for("the stand-in to exit", lambda: not process_alive(pid))
    assert service("status").returncode == 3
    assert service("stop").returncode == 0


def test_init_script_refuses_unsubstituted_placeholders(tmp_path: Path) -> None:
    result = subprocess.run(["sh", str(INIT_SCRIPT), "start"], capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"],
                                 "PROXYSQL_DATADIR": str(tmp_path)}, timeout=30)
    assert result.returncode == 5
    assert "placeholders" in result.stderr
