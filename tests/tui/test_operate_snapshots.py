"""SVG snapshots of the Operate screen at 80x24 and 120x40: the cluster as the journal has it,
its health (one failure, on top), the last operation's lines and report, the failover's risky
question, and the guide panel of the demo. Deterministic: a fixed clock, no cursor blink,
canned health items, no operation running. Update after a deliberate change with
`pytest tests/tui/test_operate_snapshots.py --snapshot-update` and look at the SVGs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from moodle_wizard.core import events as ev
from moodle_wizard.core.operate.topology import topology
from moodle_wizard.core.state import load
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.clock import FixedClock
from moodle_wizard.tui.operate_words import failover_question
from moodle_wizard.tui.screens.confirm import ConfirmModal
from tests.tui.test_operate import HEALTH, completed

SIZES = [(80, 24), (120, 40)]
Snap = Callable[..., bool]
Setup = Callable[[WizardApp], None]


def opened(path: Path, setup: Setup | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, WizardApp)
        await pilot.pause()
        assert app.open_saved(path)
        app.health = HEALTH
        if setup is not None:
            setup(app)
        app.goto("operate")
        await pilot.pause()
    return run_before


def switched_over(app: WizardApp) -> None:
    log = app.operate
    log.start("switchover to db2")
    log.apply([ev.StepStarted("switchover", "Switchover to db2"),
               ev.ActionStarted("switchover", "hold", "hold Moodle's writes in ProxySQL: db1 "
                                "OFFLINE_SOFT on px1, px2"),
               ev.OutputLine("switchover", "db1", "read_only=1 at 0-1-4711"),
               ev.ActionStarted("switchover", "catch-up", "wait until db2 has applied "
                                "0-1-4711"),
               ev.StepDone("switchover", 1.9)])
    log.succeeded("db2 is the primary now (was db1); switchover took 1.9 s",
                  ["no write was lost", "db1 and db3 replicate from db2"])


def app(guide: bool = False) -> WizardApp:
    return WizardApp(clock=FixedClock(), blink=False, ask_resume=False, guide=guide)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_operate(snap_compare: Snap, state_dir: Path, size: tuple[int, int]) -> None:
    assert snap_compare(app(), terminal_size=size, run_before=opened(completed(state_dir)))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_operate_after_a_switchover(snap_compare: Snap, state_dir: Path,
                                    size: tuple[int, int]) -> None:
    path = completed(state_dir, primary="db2")
    assert snap_compare(app(), terminal_size=size, run_before=opened(path, switched_over))


def test_operate_failover_question(snap_compare: Snap, state_dir: Path) -> None:
    path = completed(state_dir)

    def ask(wizard: WizardApp) -> None:
        state = load(path)
        topo = topology(wizard.inventory(), state.cluster)
        wizard.push_screen(ConfirmModal(failover_question(topo, None), risky=True,
                                        yes="Fail over", no="Cancel",
                                        title="Failover: db1 is gone"))

    async def run_before(pilot: Pilot[Any]) -> None:
        await opened(path)(pilot)
        assert isinstance(pilot.app, WizardApp)
        ask(pilot.app)
        await pilot.pause()

    assert snap_compare(app(), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_operate_guide(snap_compare: Snap, state_dir: Path, size: tuple[int, int]) -> None:
    path = completed(state_dir, fenced=["db1"], primary="db2")
    assert snap_compare(app(guide=True), terminal_size=size, run_before=opened(path))
