"""drill primary's restart of the killed server: a failed SysV start is told with the script's
own output (stdout: Debian's script prints its error log there) and tried once more."""

from __future__ import annotations

from typing import Any

import pytest

from moodle_wizard.core.operate.drill_probe import DrillError
from moodle_wizard.core.operate.drills import _start_again
from moodle_wizard.core.remote.ssh import Result

FAILED = Result(1, "Running '/etc/init.d/mariadb start' failed with error log:\n"
                   "[ERROR] Can't start server: Bind on TCP/IP port: Address already in use\n",
                "mysqld_safe Can't log to error log and syslog at the same time.\n")


class Host:
    def __init__(self, results: list[Result]) -> None:
        self.results = results
        self.calls = 0

    async def run(self, argv: list[str], **kw: Any) -> Result:
        assert kw.get("check") is False
        self.calls += 1
        return self.results.pop(0)


class Db:
    async def one(self, sql: str) -> dict[str, int]:
        return {"one": 1}


class Secrets:
    def mask(self, text: str) -> str:
        return text


class Ctx:
    def __init__(self, host: Host) -> None:
        self._host = host
        self.secrets = Secrets()

    async def host(self, name: str) -> Host:
        return self._host

    async def db(self, name: str) -> Db:
        return Db()

    async def forget_db(self, name: str) -> None:
        return None


async def test_a_failed_start_is_told_with_its_stdout_and_tried_once_more() -> None:
    host = Host([FAILED, Result(0, "", "")])
    notes = await _start_again(Ctx(host), "db1", "mysqld_safe")  # type: ignore[arg-type]
    assert host.calls == 2
    assert len(notes) == 1 and "Address already in use" in notes[0]
    assert "tried once more" in notes[0]


async def test_two_failed_starts_stop_the_drill_with_the_reason() -> None:
    host = Host([FAILED, FAILED])
    with pytest.raises(DrillError, match=r"Address already in use.*rejoin db1"):
        await _start_again(Ctx(host), "db1", "mysqld_safe")  # type: ignore[arg-type]


async def test_a_start_that_works_says_nothing() -> None:
    host = Host([Result(0, "Starting MariaDB database server: mariadbd.\n", "")])
    assert await _start_again(Ctx(host), "db1", "mysqld_safe") == []  # type: ignore[arg-type]
