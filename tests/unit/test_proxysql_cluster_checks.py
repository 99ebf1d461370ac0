"""The Cluster's refusals before it changes anything: the join refuses nodes with different
ProxySQL builds or different runtime_mysql_users (and writes proxysql_servers on every node
when they agree); preflight refuses a proxy host without nft and clocks more than 1 s apart.
Fakes stand for the admin connections and the hosts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

from moodle_wizard.core.remote.ssh import Result
from moodle_wizard.core.steps import proxysql_cluster
from moodle_wizard.core.steps.base import StepError
from tests.unit.plan_fixtures import context

USER_ROW = {"username": "moodleuser", "password": "x", "active": 1}


class FakeAdmin:
    def __init__(self, version: str, users: list[dict[str, Any]]) -> None:
        self.version, self.users = version, users
        self.ran: list[str] = []

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if "@@version" in sql:
            return [{"v": self.version}]
        assert "runtime_mysql_users" in sql, sql
        return self.users

    async def run(self, stmt: Any) -> list[dict[str, Any]]:
        self.ran.append(stmt.display())
        return []


class FakeHost:
    def __init__(self, nft: bool, clock: float) -> None:
        self.nft, self.clock = nft, clock

    async def run(self, argv: Sequence[str], **_: Any) -> Result:
        if argv[:2] == ["sh", "-c"]:
            return Result(0 if self.nft else 1, "/usr/sbin/nft\n" if self.nft else "", "")
        assert argv[0] == "date", argv
        return Result(0, f"{time.time() + self.clock:.3f}\n", "")


class FakeStep:
    def __init__(self, ctx: Any, admins: dict[str, FakeAdmin]) -> None:
        self.ctx = ctx
        self.admins = admins

    @property
    def cfg(self) -> Any:
        return self.ctx.inventory.proxysql

    async def admin(self, px: str) -> FakeAdmin:
        return self.admins[px]


def _step(monkeypatch: pytest.MonkeyPatch, admins: dict[str, FakeAdmin],
          hosts: dict[str, FakeHost] | None = None) -> Any:
    ctx = context("mariadb-10.11", monkeypatch)
    inv = ctx.inventory
    ctx.inventory = inv.model_copy(
        update={"proxysql": inv.proxysql.model_copy(update={"cluster": True})})

    async def host(name: str) -> FakeHost:
        assert hosts is not None
        return hosts[name]

    monkeypatch.setattr(ctx, "host", host)
    return FakeStep(ctx, admins)


async def test_join_writes_proxysql_servers_when_the_nodes_agree(
        monkeypatch: pytest.MonkeyPatch) -> None:
    admins = {px: FakeAdmin("2.7.2-0-g8c3c6a5", [USER_ROW]) for px in ("px1", "px2")}
    await proxysql_cluster.join(_step(monkeypatch, admins))
    for admin in admins.values():
        assert admin.ran[0] == "DELETE FROM proxysql_servers"
        assert admin.ran[-1] == "SAVE PROXYSQL SERVERS TO DISK"
        assert sum("'10.77.0.2" in s for s in admin.ran) == 2


@pytest.mark.parametrize(("px2", "words"), [
    (FakeAdmin("2.7.1-0-gabcdef0", [USER_ROW]), "the very same build"),
    (FakeAdmin("2.7.2-0-g8c3c6a5", [USER_ROW, {**USER_ROW, "username": "extra"}]),
     "runtime_mysql_users differ between px1 and px2"),
])
async def test_join_refuses(monkeypatch: pytest.MonkeyPatch, px2: FakeAdmin,
                            words: str) -> None:
    admins = {"px1": FakeAdmin("2.7.2-0-g8c3c6a5", [USER_ROW]), "px2": px2}
    with pytest.raises(StepError, match=words):
        await proxysql_cluster.join(_step(monkeypatch, admins))
    assert admins["px1"].ran == [] and px2.ran == []  # nothing written


@pytest.mark.parametrize(("hosts", "words"), [
    ({"px1": FakeHost(True, 0), "px2": FakeHost(True, 0.2)}, None),
    ({"px1": FakeHost(True, 0), "px2": FakeHost(False, 0)}, "px2: nft is missing"),
    ({"px1": FakeHost(True, 0), "px2": FakeHost(True, 3)}, "clocks differ by more than 1 s"),
])
async def test_preflight(monkeypatch: pytest.MonkeyPatch, hosts: dict[str, FakeHost],
                         words: str | None) -> None:
    problems = await proxysql_cluster.preflight(_step(monkeypatch, {}, hosts))
    messages = [p.message for p in problems if p.level == "error"]
    if words is None:
        assert messages == []
    else:
        assert len(messages) == 1 and words in messages[0], messages


async def test_preflight_refuses_a_single_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    step = _step(monkeypatch, {})
    inv = step.ctx.inventory
    hosts = {n: h for n, h in inv.hosts.items() if n != "px2"}
    step.ctx.inventory = inv.model_copy(update={"hosts": hosts, "vip": None})
    assert step.ctx.inventory.proxies == ["px1"]
    problems = await proxysql_cluster.preflight(step)
    assert [p.message for p in problems] == [
        "proxysql.cluster needs at least two proxy hosts to keep in step; add one, or set "
        "cluster = false"]
