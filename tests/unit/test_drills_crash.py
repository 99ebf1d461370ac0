"""drill primary's crash script, run here on stand-ins: a `mysqld_safe` script that started a
`mariadbd` (sleep under that name). Both are killed, the supervisor first, by pid; a pid file
naming anything else is refused and nothing is killed."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from moodle_wizard.core.operate.drills import CRASH, DROP_IN, START
from tests.unit.conftest_proxysql_standin import wait_for


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    server = tmp_path / "mariadbd"
    server.symlink_to("/bin/sleep")
    pid_file = tmp_path / "mariadbd.pid"
    safe = tmp_path / "mysqld_safe"
    safe.write_text(f'#!/bin/sh\n"{server}" 300 &\necho $! > "{pid_file}"\nwait\n')
    safe.chmod(0o755)
    proc = subprocess.Popen([str(safe)])
    wait_for("the pid file", lambda: pid_file.exists() and pid_file.read_text().strip())
    try:
        yield proc, pid_file
    finally:
        for pid in (int(pid_file.read_text()), proc.pid):
            if alive(pid):
                os.kill(pid, 9)
        proc.wait(timeout=10)


def test_the_crash_kills_the_supervisor_first_then_the_server(
        supervised: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, pid_file = supervised
    server = int(pid_file.read_text())
    before = time.time()
    out = subprocess.run(["sh", "-c", CRASH, "sh", str(pid_file), DROP_IN],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    at, parent = out.stdout.split("\n", 1)
    assert before <= float(at) <= time.time()
    assert parent.strip() == "mysqld_safe"
    assert proc.wait(timeout=10) == -9
    wait_for("the server gone", lambda: not alive(server))


def test_a_pid_file_naming_another_program_is_refused(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "300"])
    try:
        pid_file = tmp_path / "x.pid"
        pid_file.write_text(f"{other.pid}\n")
        out = subprocess.run(["sh", "-c", CRASH, "sh", str(pid_file), DROP_IN],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 3 and "not a server" in out.stderr
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_the_start_script_is_valid_shell() -> None:
    assert subprocess.run(["sh", "-n", "-c", START]).returncode == 0
    assert subprocess.run(["sh", "-n", "-c", CRASH]).returncode == 0
