"""A host reached as a user other than root (issue 17 item 3): every command runs through
`sudo -n`, the exact line the host gets; secrets still only on stdin, which sudo passes on;
no passwordless sudo is refused in one line when the connection opens."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from moodle_wizard.core.remote.errors import NoSudo
from moodle_wizard.core.remote.known_hosts import HostKeyPolicy
from moodle_wizard.core.remote.pool import SshPool
from moodle_wizard.core.remote.ssh import RemoteHost, SshTarget, wrap

SECRET = "s3cret-pw-never-on-a-command-line"


def test_the_exact_command_lines() -> None:
    argv = ["cat", "--", "/etc/my file"]
    assert wrap(argv, 600, sudo=False) == (
        "timeout -k 5 600.000 sh -c '\"$@\"' sh cat -- '/etc/my file'")
    assert wrap(argv, 600, sudo=True) == (
        "sudo -n -- timeout -k 5 600.000 sh -c '\"$@\"' sh cat -- '/etc/my file'")
    assert wrap(argv, None, sudo=True) == "sudo -n -- sh -c '\"$@\"' sh cat -- '/etc/my file'"
    assert wrap(argv, None, sudo=False) == "cat -- '/etc/my file'"


class _Stream:
    def __init__(self, data: bytes = b"") -> None:
        self.data = data
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    async def drain(self) -> None:
        pass

    def write_eof(self) -> None:
        pass

    async def read(self) -> bytes:
        return self.data


class _Process:
    def __init__(self) -> None:
        self.stdin, self.stdout, self.stderr = _Stream(), _Stream(), _Stream()

    async def wait(self) -> Any:
        return SimpleNamespace(returncode=0)

    def close(self) -> None:
        pass


class _Conn:
    def __init__(self) -> None:
        self.commands: list[str] = []
        self.processes: list[_Process] = []

    def is_closed(self) -> bool:
        return False

    async def create_process(self, command: str, encoding: None) -> _Process:
        self.commands.append(command)
        self.processes.append(_Process())
        return self.processes[-1]


async def _host(user: str) -> tuple[RemoteHost, _Conn, list[str]]:
    conn = _Conn()
    audit: list[str] = []

    async def opener(target: SshTarget) -> Any:
        return conn

    host = RemoteHost(SshTarget("px2", "10.0.0.21", user=user), opener,
                      lambda name, text: audit.append(f"{name}: {text}"))
    return host, conn, audit


async def test_every_command_of_a_non_root_target_goes_through_sudo() -> None:
    host, conn, audit = await _host("deploy")
    await host.run(["systemctl", "restart", "proxysql"])
    await host.write_file("/etc/proxysql.cnf", f"admin_credentials={SECRET}\n".encode())
    await host.read_file("/etc/proxysql.cnf")
    await host.script("echo hi")
    assert all(c.startswith("sudo -n -- timeout -k 5 ") for c in conn.commands), conn.commands
    assert conn.commands[0].endswith("sh systemctl restart proxysql")
    # the secret only on stdin, never on the line sudo logs
    assert not any(SECRET in c for c in conn.commands)
    assert SECRET.encode() in conn.processes[1].stdin.written
    assert conn.processes[3].stdin.written == b"echo hi"
    assert audit[0] == "px2: sudo -n systemctl restart proxysql"
    assert all(" sudo -n " in line for line in audit)


async def test_a_root_target_runs_as_before() -> None:
    host, conn, audit = await _host("root")
    await host.run(["true"])
    assert conn.commands == ["timeout -k 5 600.000 sh -c '\"$@\"' sh true"]
    assert audit == ["px2: true"]


def test_stdin_reaches_the_command_through_the_wrapped_line(tmp_path: Path) -> None:
    """The wrapped line run by a real shell, with a stand-in `sudo` that insists on -n --."""
    fake = tmp_path / "sudo"
    fake.write_text('#!/bin/sh\n[ "$1" = -n ] && [ "$2" = -- ] || exit 97\nshift 2\n'
                    'exec "$@"\n')
    fake.chmod(0o755)
    line = wrap(["sh", "-c", 'read -r x; printf "%s|%s" "$x" "$1"', "sh", "it's $HOME"], 30,
                sudo=True)
    done = subprocess.run(["sh", "-c", line], input=SECRET.encode(), capture_output=True,
                          env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
                          check=True)
    assert done.stdout.decode() == f"{SECRET}|it's $HOME"


class _SudoConn:
    def __init__(self, status: int, stderr: str) -> None:
        self.status, self.stderr = status, stderr
        self.ran: list[str] = []
        self.closed = False

    async def run(self, command: str, check: bool) -> Any:
        self.ran.append(command)
        return SimpleNamespace(exit_status=self.status, stderr=self.stderr)

    def close(self) -> None:
        self.closed = True


def test_no_passwordless_sudo_is_refused_in_one_line(tmp_path: Path) -> None:
    pool = SshPool(HostKeyPolicy(tmp_path / "known_hosts"))
    conn = _SudoConn(1, "sudo: a password is required\n")
    target = SshTarget("px2", "10.0.0.21", user="deploy")
    with pytest.raises(NoSudo) as caught:
        asyncio.run(pool._check_sudo(target, conn))  # type: ignore[arg-type]
    assert conn.ran == ["sudo -n true"] and conn.closed
    assert str(caught.value) == (
        "px2: deploy cannot run `sudo -n true` there (sudo: a password is required); give "
        "deploy passwordless sudo on px2, or set ssh_user = \"root\" for px2 in the inventory")
    ok = _SudoConn(0, "")
    asyncio.run(pool._check_sudo(target, ok))  # type: ignore[arg-type]
    assert not ok.closed
