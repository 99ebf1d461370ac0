"""The Operate screen (after a completed migration): what it shows of the topology and the
health, and that each key asks what it must and calls core's operation with the right target;
core's operations are fakes here (their own tests are core's and the lab's). The engine
thread, the runner, the session and the journal are the real ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from moodle_wizard.core import events as ev
from moodle_wizard.core.context import Context
from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.health import HealthItem, HealthReport
from moodle_wizard.core.operate.api import OperationReport
from moodle_wizard.core.operate.record import Operation, OperationKind, OperationStatus
from moodle_wizard.core.state import StepName, load, save
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.screens.choice import ChoiceModal
from moodle_wizard.tui.screens.confirm import ConfirmModal
from moodle_wizard.tui.screens.dashboard import DashboardScreen
from moodle_wizard.tui.screens.error import ErrorScreen
from moodle_wizard.tui.screens.operate import OperateScreen
from moodle_wizard.tui.screens.rollback import RollbackModal
from tests.tui.conftest import save_migration, screen_text, wait_for

ALL_DONE = {n.value: "done" for n in StepName}
MakeApp = Callable[..., WizardApp]

HEALTH = [
    HealthItem("replication", "db2 replication", True, True,
               "IO and SQL threads running, lag 0 s"),
    HealthItem("replication", "db3 replication", True, False, "SQL thread not running"),
    HealthItem("vip", "VIP holder", True, True, "px1 holds 10.77.0.100"),
]


def completed(state_dir: Path, **cluster: Any) -> Path:
    """A migration whose steps are all done; `cluster`: the journal's cluster record."""
    path = save_migration(state_dir, statuses=ALL_DONE)
    if cluster:
        state = load(path)
        for key, value in cluster.items():
            setattr(state.cluster, key, value)
        save(state, path)
    return path


@pytest.fixture
def health(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """core's check_health, faked: the canned items; how often it ran."""
    calls: list[int] = []

    async def fake(ctx: Context, **_: Any) -> HealthReport:
        calls.append(1)
        return HealthReport(tuple(HEALTH), 0.1)

    monkeypatch.setattr("moodle_wizard.tui.ops.check_health", fake)
    return calls


async def operate(app: WizardApp, pilot: Pilot[Any], path: Path) -> OperateScreen:
    await pilot.pause()
    if not app.open_saved(path):  # it pushed an ErrorScreen that says why
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), what="its error")
        error = app.screen
        assert isinstance(error, ErrorScreen)
        raise AssertionError(f"the migration did not open: {error.heading}: {error.text}")
    app.open_operate()
    await wait_for(pilot, lambda: app.health is not None, what="the health check")
    await pilot.pause()
    assert isinstance(app.screen, OperateScreen)
    return app.screen


async def answer(pilot: Pilot[Any], kind: type, *keys: str) -> Any:
    """Wait for a modal of `kind`, then press `keys` in it."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, kind), what=kind.__name__)
    await pilot.pause()
    modal = app.screen
    await pilot.press(*keys)
    return modal


def fake_operation(monkeypatch: pytest.MonkeyPatch, name: str,
                   error: str | None = None) -> list[Any]:
    """core's `name` (switchover/failover/rejoin): emits its events as core does, records its
    target, makes it the primary in the journal, and reports; or refuses with `error`."""
    calls: list[Any] = []

    async def fake(ctx: Context, target: Any = None) -> OperationReport:
        calls.append(target)
        old = ctx.state.cluster.primary_of(ctx.inventory.source)
        ctx.emit(ev.StepStarted(name, f"{name} to {target}"))
        ctx.emit(ev.ActionStarted(name, "read-only", f"set {old} read-only"))
        ctx.emit(ev.OutputLine(name, old, "read_only=1"))
        if error is not None:
            ctx.emit(ev.StepFailed(name, error))
            raise OperatorError(error)
        new = target or "db3"
        if name != "rejoin":
            ctx.state.cluster.primary = new
            ctx.save()  # core journals it; the session is the migration's own
        ctx.emit(ev.StepDone(name, 1.8))
        return OperationReport(name, old, new if name != "rejoin" else old, 1.8,
                               ["0 transactions lost", f"{old} replicates from {new}"])

    monkeypatch.setattr(f"moodle_wizard.core.operate.api.{name}", fake)
    return calls


async def test_a_completed_migration_opens_on_operate(
        make_app: MakeApp, state_dir: Path, health: list[int]) -> None:
    completed(state_dir)
    app = make_app(blink=False)  # ask_resume: as the wizard starts for real
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OperateScreen), what="Operate")
        await wait_for(pilot, lambda: app.health is not None, what="the health check")
        await pilot.pause()
        shown = screen_text(app)
        assert "primary db1   replicas db2, db3   fenced none" in shown
        assert "✗ FAIL" in shown and "SQL thread not running" in shown
        assert "UNHEALTHY: 1 of 3 checks fail" in shown
        assert health == [1]
        # The dashboard stays reachable, and o comes back.
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), what="steps")
        await pilot.pause()
        assert "o Operate" in screen_text(app)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, OperateScreen), what="back")


async def test_an_unfinished_migration_does_not_show_operate_in_the_dashboard(
        make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done"})
    app = make_app(blink=False, ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.open_saved(path)
        app.goto("dashboard")
        await pilot.pause()
        assert "o Operate" not in screen_text(app)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_switchover_to_the_picked_replica_shows_its_events_and_report(
        make_app: MakeApp, state_dir: Path, health: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_operation(monkeypatch, "switchover")
    app = make_app(blink=False, ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await operate(app, pilot, completed(state_dir))
        await pilot.press("s")
        picker = await answer(pilot, ChoiceModal, "down", "enter")
        assert [key for key, _ in picker.choices] == ["db2", "db3"]
        question = await answer(pilot, ConfirmModal, "y")
        assert not question.risky and "Make db3 the primary" in question.message
        await wait_for(pilot, lambda: app.operate.outcome is not None, what="the outcome")
        await wait_for(pilot, lambda: not app.runner.busy, what="the health after")
        await pilot.pause()
        assert calls == ["db3"]
        shown = screen_text(app)
        assert "✓ switchover to db3: db3 is the primary now (was db1)" in shown
        assert "db1: read_only=1" in shown and "0 transactions lost" in shown
        assert "primary db3   replicas db1, db2" in shown  # the journal after it
        assert health == [1, 1]  # checked again after the switchover
        assert load(state_dir / "mwlab.json").cluster.primary == "db3"


async def test_a_refused_switchover_shows_its_one_line(
        make_app: MakeApp, state_dir: Path, health: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    why = "db2 is 40 s behind db1: wait until it has caught up, or pick another replica"
    calls = fake_operation(monkeypatch, "switchover", error=why)
    app = make_app(blink=False, ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await operate(app, pilot, completed(state_dir))
        await pilot.press("s")
        await answer(pilot, ChoiceModal, "enter")
        await answer(pilot, ConfirmModal, "y")
        await wait_for(pilot, lambda: app.operate.outcome is not None, what="the outcome")
        await pilot.pause()
        assert calls == ["db2"] and app.operate.failed
        shown = screen_text(app)
        assert "✗ switchover to db2: db2 is 40 s behind db1: wait until it" in shown
        assert "…" in shown.splitlines()[2]  # the status line: as much as fits
        assert f"✗ {why}" in " ".join(shown.replace("│", " ").split())  # the log: all of it
        assert "primary db1" in shown and health == [1]  # nothing changed, no re-check


async def test_failover_asks_a_risky_question_naming_what_happens(
        make_app: MakeApp, state_dir: Path, health: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_operation(monkeypatch, "failover")
    app = make_app(blink=False, ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await operate(app, pilot, completed(state_dir))
        await pilot.press("f")
        await answer(pilot, ChoiceModal, "enter")  # the wizard chooses
        question = await answer(pilot, ConfirmModal, "enter")  # Enter alone: No
        assert question.risky and "fences db1" in question.message
        assert "the most advanced replica" in question.message
        await pilot.pause()
        assert calls == [] and isinstance(app.screen, OperateScreen)
        await pilot.press("f")
        await answer(pilot, ChoiceModal, "down", "down", "enter")  # db3
        question = await answer(pilot, ConfirmModal, "y")
        assert "promotes db3" in question.message
        await wait_for(pilot, lambda: app.operate.outcome is not None, what="the outcome")
        await pilot.press("f")
        await answer(pilot, ChoiceModal, "enter")
        await answer(pilot, ConfirmModal, "y")
        await wait_for(pilot, lambda: len(calls) == 2, what="the second failover")
        assert calls == ["db3", None]


async def test_rejoin_of_the_fenced_host(make_app: MakeApp, state_dir: Path,
                                         health: list[int],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_operation(monkeypatch, "rejoin")
    app = make_app(blink=False, ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await operate(app, pilot, completed(state_dir, primary="db2", fenced=["db1"]))
        assert "primary db2   replicas db3   fenced db1" in screen_text(app)
        await pilot.press("j")
        question = await answer(pilot, ConfirmModal, "y")
        assert "Bring db1 back as a replica of db2" in question.message
        await wait_for(pilot, lambda: app.operate.outcome is not None, what="the outcome")
        await pilot.pause()
        assert calls == ["db1"]
        assert "✓ rejoin of db1: db1 is a replica of db2 again" in screen_text(app)


async def test_an_operation_in_flight_is_offered_to_continue(
        make_app: MakeApp, state_dir: Path, health: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_operation(monkeypatch, "switchover")
    stopped = Operation(kind=OperationKind.SWITCHOVER, target="db2", old_primary="db1",
                        status=OperationStatus.FAILED)
    app = make_app(blink=False, ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await operate(app, pilot, completed(state_dir, operation=stopped))
        shown = screen_text(app)
        assert "the switchover to db2 stopped half-way (failed): c continues it" in shown
        assert "c  Continue the switchover" in shown
        await pilot.press("enter")  # the first entry of the menu is Continue
        await wait_for(pilot, lambda: app.operate.outcome is not None, what="the outcome")
        assert calls == ["db2"]


class FakeDrill:
    """core's drill result as the TUI reads it (drills.SwitchoverDrill / PrimaryDrill)."""

    def __init__(self, summary: list[str], missed: list[str]) -> None:
        self._summary, self._missed = summary, missed

    def summary(self) -> list[str]:
        return self._summary

    def missed(self) -> list[str]:
        return self._missed


async def test_drills(make_app: MakeApp, state_dir: Path, health: list[int],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    from moodle_wizard.core.drill import DrillResult
    from moodle_wizard.core.remote.client import ServerIdentity

    calls: list[Any] = []

    async def drill_vip(ctx: Context) -> DrillResult:
        calls.append("vip")
        ctx.emit(ev.OutputLine("drill", "px1", "stopping ProxySQL on px1, which holds the VIP"))
        return DrillResult("px1", "px2", 2.25, ServerIdentity(1, False, "db1", "10.11"))

    async def drill_primary(ctx: Context, to: str | None, said: list[str]) -> FakeDrill:
        ctx.emit(ev.OutputLine("failover", "jump", "db1 is down: confirmed by px1, px2"))
        calls.append(("primary", to, list(said)))
        return FakeDrill(["db1 crashed (kill -9), failover to db2 in 4.1 s"], [])

    async def drill_switchover(ctx: Context) -> FakeDrill:
        calls.append("switchover")
        return FakeDrill(["db1 -> db2: switchover 1.9 s"], ["db1 -> db2: 2 write(s) failed"])

    monkeypatch.setattr("moodle_wizard.core.drill.drill_vip", drill_vip)
    monkeypatch.setattr("moodle_wizard.core.operate.drills.drill_primary", drill_primary)
    monkeypatch.setattr("moodle_wizard.core.operate.drills.drill_switchover", drill_switchover)
    app = make_app(blink=False, ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await operate(app, pilot, completed(state_dir))

        async def drill(keys: tuple[str, ...], title: str) -> ConfirmModal:
            await wait_for(pilot, lambda: not app.runner.busy, what="the wizard idle")
            await pilot.press("d")
            await answer(pilot, ChoiceModal, *keys)
            question = await answer(pilot, ConfirmModal, "y")
            await wait_for(pilot, lambda: app.operate.title == title and
                           app.operate.outcome is not None, what=title)
            await pilot.pause()
            return question

        question = await drill(("enter",), "drill vip")
        assert not question.risky
        assert "Stop ProxySQL on the node that holds the VIP" in question.message
        shown = screen_text(app)
        assert "✓ drill vip: the VIP moved from px1 to px2 in 2.25 s" in shown
        assert "px1: stopping ProxySQL on px1" in shown
        question = await drill(("down", "down", "enter"), "drill primary")
        assert question.risky and "Stop MariaDB on the primary db1" in question.message
        assert "✓ drill primary: every target met" in screen_text(app)
        question = await drill(("down", "enter"), "drill switchover")
        assert not question.risky and app.operate.failed  # a target missed
        shown = screen_text(app)
        assert "✗ drill switchover: 1 target(s) missed" in shown
        assert "MISSED: db1 -> db2: 2 write(s) failed" in shown
        # What the drill was given: the output lines said so far (the failover's time to
        # confirm the primary down is read from them).
        assert calls == ["vip", ("primary", None, ["db1 is down: confirmed by px1, px2"]),
                         "switchover"]


async def test_rollback_is_the_migrations_and_refused_after_a_switchover(
        make_app: MakeApp, state_dir: Path, health: list[int]) -> None:
    app = make_app(blink=False, ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await operate(app, pilot, completed(state_dir))
        await pilot.press("b")
        await answer(pilot, RollbackModal, "n")
        await pilot.pause()
        assert isinstance(app.screen, OperateScreen)
    switched = completed(state_dir, primary="db2")
    app = make_app(blink=False, ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await operate(app, pilot, switched)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), what="the refusal")
        await pilot.pause()
        assert "the primary is now db2, not the migration's source" in screen_text(app)


async def test_u_gives_moodles_password_to_every_proxysql_node(
        make_app: MakeApp, state_dir: Path, health: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`proxysql sync` from the Operate screen: asked first (naming the nodes), then core's
    sync in the migration's session, its lines and a headline that says what changed."""
    runs: list[str] = []

    async def sync(ctx: Context) -> OperationReport:
        runs.append(ctx.inventory.source)
        ctx.emit(ev.StepStarted("proxysql sync", "Give moodleuser's password to px2"))
        ctx.emit(ev.StepDone("proxysql sync", 0.7))
        changed = not runs[1:]  # the first run changes px2; the second finds both in step
        lines = (["px1: already in step, left alone", "px2: password differs -> changed",
                  "the mysql_users checksum is the same on px1 and px2"] if changed else
                 ["px1: moodleuser already has config.php's password",
                  "nothing to change; nothing was changed"])
        return OperationReport("proxysql sync", "db1", "db1", 0.7, lines)

    monkeypatch.setattr("moodle_wizard.core.operate.api.proxysql_sync", sync)
    app = make_app(blink=False, ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await operate(app, pilot, completed(state_dir))
        await pilot.press("u")
        question = await answer(pilot, ConfirmModal, "y")
        assert not question.risky and "(px1, px2)" in question.message
        await wait_for(pilot, lambda: app.operate.outcome is not None, what="the outcome")
        await wait_for(pilot, lambda: not app.runner.busy, what="the wizard idle")
        await pilot.pause()
        shown = screen_text(app)
        assert ("✓ ProxySQL users sync: every ProxySQL node has config.php's password now"
                in shown)
        assert "px2: password differs -> changed" in shown
        await pilot.press("u")
        await answer(pilot, ConfirmModal, "y")
        await wait_for(pilot, lambda: len(runs) == 2 and app.operate.outcome is not None
                       and "already" in app.operate.outcome, what="the second outcome")
        assert runs == ["db1", "db1"]
