"""The proxysql step's check of the read-only user's route (issue 15): the primary is a
weight-1 reader beside the replicas' 1000, so a login may land on it now and then; verify tries
again instead of failing, and still fails a route that never reaches a replica."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from moodle_wizard.core.remote.client import ServerIdentity
from moodle_wizard.core.steps import proxysql_verify
from moodle_wizard.core.steps.base import StepError

IDS = {"db1": 1, "db2": 2, "db3": 3}
MOODLE = ServerIdentity(1, False, "db1", "10.11", wrote=True)


def identity(name: str) -> ServerIdentity:
    return ServerIdentity(IDS[name], name != "db1", name, "10.11")


class Ctx:
    inventory = SimpleNamespace(source="db1")
    secrets = SimpleNamespace(generated=lambda name, make: "ro-secret")

    async def forward(self, px: str, host: str, port: int) -> tuple[str, int]:
        return ("127.0.0.1", 40000)

    async def moodle_password(self) -> str:
        return "moodle-secret"


def step(serving: list[str]) -> Any:
    return SimpleNamespace(
        ctx=Ctx(), cfg=SimpleNamespace(client_port=6033, readonly_user="moodle_ro"),
        moodle=lambda: SimpleNamespace(dbname="moodle", dbuser="moodleuser", prefix="mdl_"),
        serving_replicas=lambda: serving)


def logins(monkeypatch: pytest.MonkeyPatch, reached: list[str]) -> list[str]:
    """The read-only user's logins land on `reached` in turn; returns who logged in."""
    seen: list[str] = []
    landing: Iterator[str] = iter(reached)

    async def login(step: Any, px: str, local: tuple[str, int], user: str, password: str,
                    dbname: str, write_table: str | None = None) -> ServerIdentity:
        seen.append(user)
        return MOODLE if user == "moodleuser" else identity(next(landing))

    monkeypatch.setattr(proxysql_verify, "login", login)
    return seen


async def test_a_read_on_the_primary_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = logins(monkeypatch, ["db1", "db3"])
    await proxysql_verify.verify_routes(step(["db2", "db3"]), "px1", IDS)
    assert seen == ["moodleuser", "moodle_ro", "moodle_ro"]


async def test_reads_that_never_reach_a_replica_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = logins(monkeypatch, ["db1"] * proxysql_verify.READ_TRIES)
    with pytest.raises(StepError, match=r"read-only user reached server_id 1 .* not a replica"):
        await proxysql_verify.verify_routes(step(["db2", "db3"]), "px1", IDS)
    assert seen.count("moodle_ro") == proxysql_verify.READ_TRIES


async def test_without_replicas_the_reads_go_to_the_source(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = logins(monkeypatch, ["db1"])
    await proxysql_verify.verify_routes(step([]), "px1", IDS)
    assert seen == ["moodleuser", "moodle_ro"]
    logins(monkeypatch, ["db2"])
    with pytest.raises(StepError, match="not the source"):
        await proxysql_verify.verify_routes(step([]), "px1", IDS)
