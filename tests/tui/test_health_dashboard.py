"""The dashboard's health panel, drawn from core/health.py's own items on a faked cluster
(tests/unit/health_fakes.py): unhealthy items on top with their reasons, the verdict in the
border. The healthy picture is the dashboard snapshot of test_snapshots.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from textual.pilot import Pilot

from moodle_wizard.core.state import StepName, StepStatus
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.clock import FixedClock
from tests.tui.conftest import lab_inventory_text, save_migration, screen_text
from tests.unit.health_fakes import Cluster, fake_context, health_items, slave_status

ALL_DONE = {n.value: "done" for n in StepName}


def broken() -> Cluster:
    cluster = Cluster()
    cluster.replicas["db2"] = slave_status(sql="No", lag=None)
    cluster.vip_on = {"px1", "px2"}
    return cluster


async def open_dashboard(pilot: Pilot[Any], state: Path, items: Any) -> None:
    app = pilot.app
    assert isinstance(app, WizardApp)
    await pilot.pause()
    assert app.open_saved(state)
    app.health = items
    app.goto("dashboard")
    await pilot.pause()


def test_unhealthy_dashboard_snapshot(snap_compare: Any, state_dir: Path,
                                      tmp_path: Path) -> None:
    state = save_migration(state_dir, statuses=ALL_DONE, inventory=lab_inventory_text())
    items = health_items(broken(), tmp_path / "health")

    async def run_before(pilot: Pilot[Any]) -> None:
        await open_dashboard(pilot, state, items)

    app = WizardApp(clock=FixedClock(), blink=False, ask_resume=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def shown(state: Path, items: Any, size: tuple[int, int]) -> str:
    """The dashboard's text with these health items (the items are computed outside the
    app's event loop: check_health runs in its own)."""
    app = WizardApp(clock=FixedClock(), blink=False, ask_resume=False)

    async def look() -> str:
        async with app.run_test(size=size) as pilot:
            await open_dashboard(pilot, state, items)
            return screen_text(app)
    return asyncio.run(look())


def test_the_reasons_are_on_screen_at_80x24(state_dir: Path, tmp_path: Path) -> None:
    state = save_migration(state_dir, statuses=ALL_DONE, inventory=lab_inventory_text())
    text = shown(state, health_items(broken(), tmp_path / "health"), (80, 24))
    assert "UNHEALTHY: 2 of 11 checks fail" in text
    assert "db2 replication" in text and "SQL thread not running" in text
    assert "10.77.0.100 is on px1 and px2 at once" in text


def test_items_not_applicable_yet_are_neither_passed_nor_failed(
        state_dir: Path, tmp_path: Path) -> None:
    state = save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done",
                                                "replicas": "done"},
                           inventory=lab_inventory_text())
    items = health_items(Cluster(), tmp_path / "health",
                         {StepName.DISCOVER: StepStatus.DONE,
                          StepName.PREPARE_SOURCE: StepStatus.DONE,
                          StepName.REPLICAS: StepStatus.DONE})
    text = shown(state, items, (120, 40))
    assert "healthy: all 3 applicable checks pass" in text
    assert "· VIP holder" in text and "not applicable yet: step vip is not done" in text


def test_the_dashboards_health_operation_is_cores_and_reads_proxysql(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `h` on the dashboard runs (ops.health), on the faked healthy cluster: every item
    True. Before core/health.py it looked for a `runtime_config` method no step has, so
    ProxySQL's items were None ("this engine cannot read ProxySQL") on every cluster."""
    from moodle_wizard.tui import ops

    ctx = fake_context(Cluster(), tmp_path, monkeypatch)

    @asynccontextmanager
    async def session(*_: Any, **__: Any) -> AsyncIterator[Any]:
        yield ctx

    monkeypatch.setattr(ops, "_session", session)
    items = asyncio.run(ops.health(cast(Any, None), ops.Settings(), ctx.inventory, ctx.state,
                                   None))
    assert [item for item in items if item.ok is not True] == []
    assert len(items) == 11
