"""Helpers for the ProxySQL stand-in tests: throwaway MariaDB servers and stand-in processes.

Not a pytest conftest (pytest loads only ``conftest.py``): the stand-in test
modules import what they need from here. Everything listens on 127.0.0.1 on
free ports and is stopped by its pid.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pymysql

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, condition: Callable[[], T], timeout: float = 10.0) -> T:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")
        time.sleep(0.05)


def connect(port: int, user: str, password: str, **kwargs: Any) -> pymysql.Connection[Any]:
    return pymysql.connect(
        host="127.0.0.1", port=port, user=user, password=password, connect_timeout=5,
        autocommit=True, **kwargs,
    )


Rows = list[tuple[Any, ...]]


def query(port: int, sql: str, user: str = "admin", password: str = "admin") -> Rows:
    """Run one statement on a fresh connection; rows as tuples."""
    connection = connect(port, user, password)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()


def stop_pid(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM the process by its pid and reap it; SIGKILL if it does not go."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
    return process.wait(timeout)


class MariaDB:
    """A throwaway mariadbd on 127.0.0.1, root without password."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> MariaDB:
        datadir = self.base / "data"
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True, timeout=60,
        )
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={datadir}",
             f"--socket={self.base / 's.sock'}", f"--port={self.port}",
             "--bind-address=127.0.0.1", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
             "--performance-schema=OFF", "--user=root", f"--log-error={self.base / 'err.log'}",
             f"--pid-file={self.base / 'mariadbd.pid'}", "--skip-name-resolve"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(f"mariadbd on port {self.port}", self._ready, timeout=30)
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            log = (self.base / "err.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mariadbd exited: {log}")
        query(self.port, "SELECT 1", "root", "")
        return True

    def sql(self, *statements: str) -> Rows:
        rows: Rows = []
        for statement in statements:
            rows = query(self.port, statement, "root", "")
        return rows

    def stop(self) -> None:
        if self.process is not None:
            stop_pid(self.process, timeout=30)


def standin_config(
    admin_port: int,
    client_port: int,
    *,
    admin_credentials: str = "admin:admin;radmin:radmin",
    mysql_variables: dict[str, str | int] | None = None,
) -> str:
    """A proxysql.cnf for a first start on test ports."""
    mysql = {"interfaces": f"127.0.0.1:{client_port}", **(mysql_variables or {})}
    mysql_lines = "\n".join(
        f"    {name}={value!r}" if isinstance(value, int) else f'    {name}="{value}"'
        for name, value in mysql.items()
    )
    return (
        "admin_variables=\n{\n"
        f'    admin_credentials="{admin_credentials}"\n'
        f'    mysql_ifaces="127.0.0.1:{admin_port}"\n'
        "}\n"
        f"mysql_variables=\n{{\n{mysql_lines}\n}}\n"
    )


class StandIn:
    """The stand-in as a foreground child process (``python -m ...``)."""

    def __init__(self, base: Path, config: str | None = None, **config_options: Any) -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.datadir = base / "data"
        self.admin_port = free_port()
        self.client_port = free_port()
        self.config_file = base / "proxysql.cnf"
        self.config_file.write_text(
            config or standin_config(self.admin_port, self.client_port, **config_options)
        )
        self.logfile = base / "proxysql.log"
        self.pidfile = self.datadir / "proxysql.pid"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "moodle_wizard.lab.proxysql_standin",
                "--config", str(self.config_file), "--datadir", str(self.datadir),
                "--logfile", str(self.logfile), *extra]

    @staticmethod
    def environment() -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(REPO)}

    def start(self, *extra: str) -> StandIn:
        self.process = subprocess.Popen(
            self.command("--foreground", *extra), env=self.environment(),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        wait_for("the stand-in's admin port", self._ready, timeout=15)
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            stderr = self.process.stderr.read().decode() if self.process.stderr else ""
            raise RuntimeError(f"stand-in exited {self.process.returncode}: {stderr}\n"
                               f"{self.log()}")
        with socket.create_connection(("127.0.0.1", self.admin_port), timeout=1):
            return True

    def stop(self) -> int:
        assert self.process is not None
        code = stop_pid(self.process)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return code

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def admin(self, sql: str, user: str = "admin", password: str = "admin") -> Rows:
        return query(self.admin_port, sql, user, password)

    def admin_script(self, statements: Sequence[str]) -> None:
        connection = connect(self.admin_port, "admin", "admin")
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()

    def runtime_servers(self) -> list[tuple[int, str, int, str]]:
        rows = self.admin(
            "SELECT hostgroup_id, hostname, port, status FROM runtime_mysql_servers "
            "ORDER BY hostgroup_id, hostname, port"
        )
        return [(int(h), str(n), int(p), str(s)) for h, n, p, s in rows]
