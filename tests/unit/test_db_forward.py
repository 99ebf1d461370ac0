"""Each database connection comes through an SSH forward of its own (a local port to the
server's socket); closing the connection, or failing to log in, closes that forward, so a
watcher that connects every 0.1 s (the proxy-first restart) leaves no listener behind."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest

from moodle_wizard.core.remote import mysql
from moodle_wizard.core.remote.mysql import DatabaseError
from moodle_wizard.core.remote.ssh import RemoteHost, SshTarget


class Listener:
    def __init__(self, port: int) -> None:
        self.port, self.closed = port, False

    def get_port(self) -> int:
        return self.port

    def close(self) -> None:
        self.closed = True


class Connection:
    def __init__(self) -> None:
        self.listeners: list[Listener] = []

    def is_closed(self) -> bool:
        return False

    async def forward_local_port_to_path(self, host: str, port: int, path: str) -> Listener:
        self.listeners.append(Listener(40000 + len(self.listeners)))
        return self.listeners[-1]


class Cursor:
    description = ("v", "c")

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, sql: str, args: Any = None) -> None:
        return None

    async def fetchone(self) -> dict[str, str]:
        return {"v": "10.11.19-MariaDB", "c": "Debian"}


class Server:
    def cursor(self) -> Cursor:
        return Cursor()

    def close(self) -> None:
        pass


async def test_a_closed_or_refused_connection_closes_its_forward(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ssh = Connection()

    async def opener(target: SshTarget) -> Connection:
        return ssh

    host = RemoteHost(SshTarget("db1", "10.77.0.11"), opener, None)  # type: ignore[arg-type]
    answers: list[Any] = [Server(), Server(),
                          pymysql.err.OperationalError(1045, "Access denied")]

    async def connect(**_: Any) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(mysql.aiomysql, "connect", connect)
    first = await mysql.Database.connect(host, socket="/run/mysqld/mysqld.sock", user="root")
    second = await mysql.Database.connect(host, socket="/run/mysqld/mysqld.sock", user="root")
    await first.close()
    assert [x.closed for x in ssh.listeners] == [True, False]
    with pytest.raises(DatabaseError, match="cannot log in"):
        await mysql.Database.connect(host, socket="/run/mysqld/mysqld.sock", user="root")
    assert [x.closed for x in ssh.listeners] == [True, False, True]
    await second.close()
    assert all(x.closed for x in ssh.listeners)
