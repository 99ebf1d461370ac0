"""The order of the steps (core/steps/order.py): which one a migration takes and why, and what
the proxy-first order changes in the plans: ProxySQL before there are replicas (the source its
only server, Moodle's safe reads to it), the source's restart deferred to the replicas step
(behind ProxySQL), the replicas added to the reader hostgroup at the end and taken out first
at rollback; rollback follows the order that ran."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from moodle_wizard.core.context import Context
from moodle_wizard.core.engine import Engine
from moodle_wizard.core.errors import StepError
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.state import MigrationOrder, StepName, StepStatus
from moodle_wizard.core.state_migrations import migrate_2_to_3
from moodle_wizard.core.steps.order import choose_order
from moodle_wizard.core.steps.prepare_source import PrepareSource
from moodle_wizard.core.steps.proxysql import ProxySQLStep
from moodle_wizard.core.steps.registry import implemented
from moodle_wizard.core.steps.replicas import Replicas
from tests.unit.plan_fixtures import context

FLAVOUR = "mariadb-10.11"


def _say(ctx: Context, order: str) -> None:
    """The inventory with migration.order = `order` (inventories are frozen)."""
    inv = ctx.inventory
    ctx.inventory = inv.model_copy(update={
        "migration": inv.migration.model_copy(update={"order": order})})


def test_auto_is_proxy_first_when_the_source_must_restart(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(FLAVOUR, monkeypatch)
    assert PrepareSource(ctx).restart_needed()  # the fixture's source has no binary log
    assert ctx.inventory.migration.order == "auto"  # the default
    order, why = choose_order(ctx)
    assert order == MigrationOrder.PROXY_FIRST and "must restart" in why
    _say(ctx, "classic")
    assert choose_order(ctx)[0] == MigrationOrder.CLASSIC


def test_a_source_on_loopback_only_runs_classic(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(FLAVOUR, monkeypatch)
    src = ctx.state.steps.discover.facts.source
    assert src is not None
    src.bind_address = "127.0.0.1"
    _say(ctx, "auto")
    order, why = choose_order(ctx)
    assert order == MigrationOrder.CLASSIC and "loopback" in why
    _say(ctx, "proxy-first")
    with pytest.raises(StepError, match=r"proxy-first.*loopback"):
        choose_order(ctx)


def test_proxy_first_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(FLAVOUR, monkeypatch)
    ctx.state.order = MigrationOrder.PROXY_FIRST
    assert implemented(ctx.state) == [StepName.DISCOVER, StepName.PREPARE_SOURCE,
                                      StepName.PROXYSQL, StepName.VIP, StepName.CUTOVER,
                                      StepName.REPLICAS]
    assert "restart" not in [a.id for a in PrepareSource(ctx).plan()]
    px = ProxySQLStep(ctx)
    assert px.serving_replicas() == []
    runbook = "\n".join(line for a in px.plan() for line in a.runbook)
    assert "10.77.0.12" not in runbook and "10.77.0.13" not in runbook
    # Moodle's safe reads to the reader hostgroup, where the source is the only server (the
    # fallback row) while there is no replica.
    assert "'moodle_ro', '********', 1, 20" in runbook
    assert "VALUES (20, '10.77.0.11', 3306, 'ONLINE', 1, 0," in runbook
    assert "db1 until the replicas join" in runbook
    # The runbook, written before the run, shows the readers joining at the replicas' end.
    ids = [a.id for a in Replicas(ctx).plan()]
    assert ids[0] == "source-restart" and ids[-2:] == ["readers:px1", "readers:px2"]
    readers = Replicas(ctx).plan()[-1].runbook
    assert any("VALUES (20, '10.77.0.13', 3306, 'ONLINE', 1000, 30" in line
               for line in readers)
    assert any("VALUES (20, '10.77.0.11', 3306, 'ONLINE', 1, 0" in line for line in readers)
    # The read-only user is not moved: it reaches the replicas where it always was.
    assert not any("mysql_users" in line for line in readers)


def test_rollback_follows_the_order_that_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(FLAVOUR, monkeypatch, {StepName.REPLICAS: ["readers:px1", "readers:px2"]})
    ctx.state.order = MigrationOrder.PROXY_FIRST
    for name in StepName:
        ctx.state.step(name).status = StepStatus.DONE
    steps = [s.name for s in Engine(ctx).rollback_steps()]
    assert steps == [StepName.REPLICAS, StepName.CUTOVER, StepName.VIP, StepName.PROXYSQL,
                     StepName.PREPARE_SOURCE, StepName.DISCOVER]
    first = Replicas(ctx).rollback_plan()[:2]
    assert [a.id for a in first] == ["readers:px1", "readers:px2"]
    assert not any("10.77.0.12" in line for line in first[0].runbook)


def test_a_v2_journal_that_ran_keeps_the_classic_order() -> None:
    ran = {"schema_version": 2, "steps": {"discover": {"status": "done"}}}
    assert migrate_2_to_3(ran)["order"] == "classic"
    fresh = {"schema_version": 2, "steps": {"discover": {"status": "pending"}}}
    assert "order" not in migrate_2_to_3(fresh)


async def test_the_order_is_decided_again_until_a_step_after_discovery_ran(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery changes nothing: an inventory changed after it gets its order; once a step
    ran in an order, an inventory that asks for the other one is refused, naming the fix."""
    ctx = context(FLAVOUR, monkeypatch)
    ctx.state.order = MigrationOrder.PROXY_FIRST  # decided by an earlier run, discovery only
    _say(ctx, "classic")
    await Engine(ctx)._decide_order()
    assert ctx.state.order == MigrationOrder.CLASSIC
    ctx.state.steps.prepare_source.status = StepStatus.DONE
    _say(ctx, "proxy-first")
    with pytest.raises(StepError, match=r'order = "proxy-first", but this migration runs in '
                                        r'the classic order \(prepare-source already ran'):
        await Engine(ctx)._decide_order()
    _say(ctx, "auto")  # auto follows the journal
    await Engine(ctx)._decide_order()
    assert ctx.state.order == MigrationOrder.CLASSIC


async def test_proxy_first_verify_waits_until_every_proxy_serves_reads_from_the_replicas(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The consistency checks stop replication, and the monitor lag-shuns a replica whose lag
    reads NULL: the step is done once every proxy node has the replicas ONLINE again."""
    from moodle_wizard.core.steps.proxysql_verify import RuntimeServer
    from moodle_wizard.core.steps.replicas import proxy_first

    ctx = context(FLAVOUR, monkeypatch)
    ctx.state.order = MigrationOrder.PROXY_FIRST
    asked: list[str] = []

    async def servers(_ctx: Context, px: str) -> tuple[RuntimeServer, ...]:
        asked.append(px)
        # px2 still has db3 lag-shunned (runtime_mysql_servers says SHUNNED) for two checks.
        db3 = "SHUNNED" if px == "px2" and asked.count("px2") <= 2 else "ONLINE"
        return (RuntimeServer(10, "10.77.0.11", 3306, "ONLINE", 1, 0),
                RuntimeServer(20, "10.77.0.11", 3306, "ONLINE", 1, 0),
                RuntimeServer(20, "10.77.0.12", 3306, "ONLINE", 1000, 30),
                RuntimeServer(20, "10.77.0.13", 3306, db3, 1000, 30))

    sleeps: list[float] = []

    async def no_sleep(s: float) -> None:
        sleeps.append(s)

    monkeypatch.setattr(proxy_first, "proxy_servers", servers)
    monkeypatch.setattr(proxy_first, "poll_until", partial(poll_until, sleep=no_sleep))
    await proxy_first.readers_online(ctx)
    assert asked.count("px2") == 3 and len(sleeps) == 2

    # Never ONLINE: one clear error naming the proxy, the replica and what it is.
    asked.clear()
    monkeypatch.setattr(proxy_first, "READERS_TIMEOUT_S", 0.0)

    async def never(_ctx: Context, px: str) -> tuple[RuntimeServer, ...]:
        return (RuntimeServer(20, "10.77.0.12", 3306, "ONLINE", 1000, 30),)

    monkeypatch.setattr(proxy_first, "proxy_servers", never)
    with pytest.raises(StepError, match=r"px1: db3 absent; px2: db3 absent.*max_replication_lag"):
        await proxy_first.readers_online(ctx)

    # The classic order: its proxysql step, which comes later, waits for the monitor itself.
    ctx.state.order = MigrationOrder.CLASSIC
    await proxy_first.readers_online(ctx)


class _Restart:
    """PrepareSource's restart, held until released; what happened, in order."""

    def __init__(self, ctx: Context, log: list[str], fails: bool = False) -> None:
        self.ctx, self.name, self.log, self.fails = ctx, "replicas", log, fails
        self.release = asyncio.Event()

    async def restart(self) -> None:
        self.log.append("restart begins")
        await self.release.wait()
        if self.fails:
            raise StepError("db1: the restart failed")
        self.log.append("restart ends")


class _Back:
    host = "px1"

    def __init__(self, log: list[str], restart: _Restart, fails: bool = False) -> None:
        self.log, self.restart, self.fails = log, restart, fails

    def render(self) -> str:
        return "LOAD MYSQL SERVERS TO RUNTIME"

    async def run(self, ctx: Context) -> None:
        if self.fails:
            raise StepError("px1: admin refused")
        self.log.append("back")
        self.restart.release.set()


async def test_the_source_is_back_in_proxysql_as_soon_as_it_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy-first: ProxySQL's servers are written again as soon as the restarted source answers
    (a new server: its Uptime is younger than the restart), before the restart command ends,
    so ProxySQL does not wait its own 1-2 s to try a shunned writer again."""
    from moodle_wizard.core.steps.replicas import proxy_first

    ctx = context(FLAVOUR, monkeypatch)
    monkeypatch.setattr(proxy_first, "WATCH_INTERVAL_S", 0.001)
    log: list[str] = []
    answers = iter([None, None, "0"])  # down, down, then a server up for 0 s

    class Db:
        def __init__(self, uptime: str) -> None:
            self.uptime = uptime

        async def query(self, sql: str) -> list[dict[str, str]]:
            assert sql == "SHOW GLOBAL STATUS LIKE 'Uptime'"
            return [{"Variable_name": "Uptime", "Value": self.uptime}]

        async def close(self) -> None:
            pass

    async def connect_db(name: str) -> Db:
        assert name == "db1"
        uptime = next(answers, "0")
        if uptime is None:
            raise StepError("db1: connection refused")
        return Db(uptime)

    monkeypatch.setattr(ctx, "connect_db", connect_db)
    restart = _Restart(ctx, log)
    await proxy_first.restart_then_back(restart, [_Back(log, restart)])  # type: ignore[arg-type, list-item]
    assert log == ["restart begins", "back", "restart ends"]

    # The old server (up for an hour) is not the new one: back waits for the restart's end.
    log.clear()
    answers = iter(["3600"] * 1000)
    restart = _Restart(ctx, log)
    back = _Back(log, restart)
    task = asyncio.ensure_future(proxy_first.restart_then_back(restart, [back]))  # type: ignore[arg-type, list-item]
    for _ in range(20):
        await asyncio.sleep(0.002)
    assert log == ["restart begins"]
    restart.release.set()
    await task
    assert log == ["restart begins", "restart ends", "back"]

    # A failed restart is the action's error; nothing is written to ProxySQL.
    log.clear()
    restart = _Restart(ctx, log, fails=True)
    restart.release.set()
    with pytest.raises(StepError, match="the restart failed"):
        await proxy_first.restart_then_back(restart, [_Back(log, restart)])  # type: ignore[arg-type, list-item]
    assert log == ["restart begins"]

    # ProxySQL not answering costs Moodle only ProxySQL's own wait: said, not fatal.
    log.clear()
    events: list[object] = []
    monkeypatch.setattr(ctx, "emit", events.append)
    restart = _Restart(ctx, log)
    restart.release.set()
    await proxy_first.restart_then_back(restart, [_Back(log, restart, fails=True)])  # type: ignore[arg-type, list-item]
    assert log == ["restart begins", "restart ends"]
    assert [getattr(e, "line", "") for e in events] == [
        "could not write ProxySQL's servers right after the restart (px1: admin refused); "
        "ProxySQL brings the source back itself within 2 s"]
