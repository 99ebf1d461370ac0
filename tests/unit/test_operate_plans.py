"""The operations after the migration, without hosts: their plans as golden files (what
switchover, failover and rejoin will run, secrets masked), the topology the journal gives,
the failover's verdict on the evidence, and the runner's journal (undo before the point of
no return, continue after it, skip what is done)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from moodle_wizard.core.context import Context
from moodle_wizard.core.engine import MigrationError
from moodle_wizard.core.errors import StepError
from moodle_wizard.core.operate.down import Evidence, verdict
from moodle_wizard.core.operate.failover import Failover
from moodle_wizard.core.operate.operation import OperationRefused, Plan, begin, run
from moodle_wizard.core.operate.record import Cluster, Operation, OperationKind, OperationStatus
from moodle_wizard.core.operate.rejoin import Rejoin
from moodle_wizard.core.operate.switchover import Switchover
from moodle_wizard.core.operate.topology import topology
from moodle_wizard.core.steps.base import Action
from tests.unit.plan_fixtures import all_secrets, context

GOLDEN = Path(__file__).parent / "golden"


def _render(ctx: Context, plan: Plan) -> str:
    out = [f"# {plan.title}", ""]
    for heading, actions in (("plan", plan.actions), ("undo", plan.undo)):
        out.append(f"== {heading}")
        for a in actions:
            out.append(f"[{a.id}] {a.title}  (host: {a.host or '-'})")
            for line in a.runbook:
                assert not [s for s in all_secrets() if s in line], f"[{a.id}] leaks a secret"
                out += ["    " + part if part else "" for part in line.split("\n")]
        out.append("")
    out.append(f"point of no return: {plan.point_of_no_return}")
    return "\n".join(line.rstrip() for line in out) + "\n"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / f"operate-{name}.txt"
    if os.environ.get("MW_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.read_text() == text, f"{path} differs: MW_UPDATE_GOLDEN=1 and read the diff"


def test_switchover_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context("mariadb-10.11", monkeypatch)
    _golden("switchover", _render(ctx, Switchover(ctx, "db2").plan()))


def test_switchover_back_writes_no_role_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Back to the migration's roles, every role file is removed, none written (the undo
    would write db2's back: it would be the primary again)."""
    ctx = context("mariadb-10.11", monkeypatch)
    ctx.state.cluster.primary = "db2"
    text, undo = _render(ctx, Switchover(ctx, "db1").plan()).split("== undo")
    assert "read_only = OFF" in undo
    assert "write /etc/mysql/mariadb.conf.d/91-moodle-wizard-role.cnf" not in text
    assert text.count("rm -f /etc/mysql/mariadb.conf.d/91-moodle-wizard-role.cnf") >= 3


def test_failover_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context("mariadb-10.11", monkeypatch)
    op = Operation(kind=OperationKind.FAILOVER, target="db3", old_primary="db1")
    _golden("failover", _render(ctx, Failover(ctx, op).plan()))


def test_rejoin_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context("mariadb-10.11", monkeypatch)
    ctx.state.cluster.primary, ctx.state.cluster.fenced = "db3", ["db1"]
    op = Operation(kind=OperationKind.REJOIN, target="db1", old_primary="db3")
    _golden("rejoin", _render(ctx, Rejoin(ctx, op).plan()))


def test_topology_follows_the_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = context("mariadb-10.11", monkeypatch).inventory
    t = topology(inv, Cluster())
    assert (t.primary, t.replicas, t.fenced, t.switched) == ("db1", ("db2", "db3"), (), False)
    t = topology(inv, Cluster(primary="db3", fenced=["db1"]))
    assert (t.primary, t.replicas, t.fenced, t.switched) == ("db3", ("db2",), ("db1",), True)
    assert t.others("db3") == ("db2",)


def test_failover_needs_two_witnesses_and_no_one_seeing_it_alive() -> None:
    down = {"the wizard": "cannot reach it", "db2": "lost it", "px1": "fails"}
    assert verdict("db1", Evidence(down=down)) is None
    alive = verdict("db1", Evidence(down=down, alive={"px2": "its monitor reached it"}))
    assert alive is not None and "db1 is not down (px2" in alive
    alone = verdict("db1", Evidence(down={"the wizard": "x", "db2": "y"},
                                    silent={"px1": "did not answer"}))
    assert alone is not None and "cannot be proven down" in alone and "px1" in alone


def _actions(log: list[str], fail_at: str | None = None) -> list[Action]:
    def act(name: str) -> Action:
        async def go() -> None:
            if name == fail_at:
                raise StepError(f"{name} broke")
            log.append(name)
        return Action(name, name, go)
    return [act(n) for n in ("hold", "catch-up", "promote", "servers")]


def _undo(log: list[str]) -> list[Action]:
    async def go() -> None:
        log.append("undo")
    return [Action("release", "release", go)]


def test_a_failure_before_the_point_of_no_return_is_undone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context("mariadb-10.11", monkeypatch)
    op = begin(ctx, OperationKind.SWITCHOVER, "db2", "db1")
    log: list[str] = []
    plan = Plan("t", _actions(log, fail_at="catch-up"), _undo(log), "promote", "db1 again")
    with pytest.raises(MigrationError, match="catch-up broke; undone: db1 again"):
        asyncio.run(run(ctx, op, plan))
    assert log == ["hold", "undo"]
    assert ctx.state.cluster.operation is None
    assert ctx.state.cluster.history[-1].status == OperationStatus.UNDONE


def test_a_failure_after_it_waits_and_the_same_command_continues(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context("mariadb-10.11", monkeypatch)
    op = begin(ctx, OperationKind.SWITCHOVER, "db2", "db1")
    log: list[str] = []
    with pytest.raises(MigrationError, match="run `moodle-wizard switchover --to db2`"):
        asyncio.run(run(ctx, op, Plan("t", _actions(log, fail_at="servers"), _undo(log),
                                      "promote")))
    assert ctx.state.cluster.operation is op and op.status == OperationStatus.FAILED
    with pytest.raises(OperationRefused, match="a switchover to db2 is in flight"):
        begin(ctx, OperationKind.FAILOVER, "db3", "db1")
    again = begin(ctx, OperationKind.SWITCHOVER, "db2", "db1")
    assert again is op
    asyncio.run(run(ctx, again, Plan("t", _actions(log), _undo(log), "promote")))
    # Done actions are not run twice; the undo never ran.
    assert log == ["hold", "catch-up", "promote", "servers"]
    assert ctx.state.cluster.operation is None
    assert ctx.state.cluster.history[-1].status == OperationStatus.DONE
