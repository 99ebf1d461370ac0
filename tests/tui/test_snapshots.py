"""SVG snapshots of every screen at 80x24 and 120x40, and of the modals that ask the
operator something. Deterministic: a fixed clock, no cursor blink, the fixtures' facts, no
engine operation running. Update after a deliberate change with
`pytest tests/tui/test_snapshots.py --snapshot-update` and look at the SVGs before committing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from moodle_wizard.core.health import HealthItem
from moodle_wizard.core.state import ActionRecord, ActionStatus, MigrationOrder, StepName, load
from moodle_wizard.tui import preview
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.clock import FixedClock
from moodle_wizard.tui.ops import Finding, HostCheck, MoodleConfig, ReviewResult
from moodle_wizard.tui.screens.confirm import ConfirmModal
from moodle_wizard.tui.screens.host_key import HostKeyModal
from moodle_wizard.tui.screens.resume import ResumeModal
from moodle_wizard.tui.screens.rollback import RollbackModal
from tests.tui.conftest import FIXTURES, lab_inventory_text, save_migration
from tests.unit.health_fakes import Cluster, health_items

SIZES = [(80, 24), (120, 40)]
Snap = Callable[..., bool]

DONE3 = {"discover": "done", "prepare-source": "done", "replicas": "done"}
ALL_DONE = {n.value: "done" for n in StepName}


def app_for(state_dir: Path, statuses: dict[str, str] | None = None, **kwargs: Any) -> WizardApp:
    save_migration(state_dir, statuses=statuses or {"discover": "done"},
                   inventory=lab_inventory_text(),
                   facts={"prepare-source": {"accounts_created": [["mw_repl", "10.77.0.12"],
                                                                   ["mw_repl", "10.77.0.13"]]}})
    kwargs.setdefault("ask_resume", False)
    return WizardApp(clock=FixedClock(), blink=False, **kwargs)


def goto(name: str, setup: Callable[[WizardApp], None] | None = None
         ) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, WizardApp)
        await pilot.pause()
        assert app.open_saved(app_state_file())
        if setup is not None:
            setup(app)
        app.goto(name)
        await pilot.pause()
    return run_before


_STATE: dict[str, Path] = {}


def app_state_file() -> Path:
    return _STATE["path"]


_HEALTH: dict[str, list[HealthItem]] = {}


@pytest.fixture(autouse=True)
def _remember(state_dir: Path, tmp_path: Path) -> None:
    _STATE["path"] = state_dir / "mwlab.json"
    _HEALTH["items"] = health_items(Cluster(), tmp_path / "health")


def connection_checked(app: WizardApp) -> None:
    for name, host in app.draft.hosts.items():
        app.connection[name] = HostCheck(name, str(host["address"]), True,
                                         "connected, host key verified")
    app.moodle = MoodleConfig({"dbtype": "mariadb", "dbhost": "10.77.0.11", "dbname": "moodle",
                               "dbuser": "moodleuser", "prefix": "mdl_",
                               "dbpass": "********",
                               "login": "works (Moodle's own login, tried with PHP mysqli)"})


def reviewed(app: WizardApp) -> None:
    app.review = ReviewResult((FIXTURES / "runbook.md").read_text(), [
        Finding("prepare-source", "question", "db1's mariadb must restart once to turn on the "
                "binary log (while it restarts, Moodle's reads and writes fail: 2.3 s in the "
                "lab). Restart it now?")], MigrationOrder.PROXY_FIRST,
        "db1 must restart: behind ProxySQL, Moodle's requests wait instead of failing")
    app.reviewed_for = app.draft.to_toml()


def finished(app: WizardApp) -> None:
    # core/health.py's own items, from a faked healthy cluster (tests/unit/health_fakes.py).
    app.health = _HEALTH["items"]
    app.run_model.message = "every step is done: Moodle uses ProxySQL at the VIP; checking health"


SCREENS: dict[str, tuple[dict[str, str], Callable[[WizardApp], None] | None]] = {
    "hosts": ({"discover": "done"}, connection_checked),
    "discovery": ({"discover": "done"}, None),
    "backup": ({"discover": "done"}, None),
    "replicas": ({"discover": "done"}, None),
    "proxysql": ({"discover": "done"}, None),
    "vip": ({"discover": "done"}, None),
    "review": ({"discover": "done"}, reviewed),
    "dashboard": (ALL_DONE, finished),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_welcome(snap_compare: Snap, state_dir: Path, size: tuple[int, int]) -> None:
    app = app_for(state_dir, DONE3)
    assert snap_compare(app, terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare: Snap, state_dir: Path, screen: str,
                size: tuple[int, int]) -> None:
    statuses, setup = SCREENS[screen]
    app = app_for(state_dir, statuses)
    assert snap_compare(app, terminal_size=size, run_before=goto(screen, setup))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_guided_demo_panel(snap_compare: Snap, state_dir: Path, size: tuple[int, int]) -> None:
    app = app_for(state_dir, guide=True)
    assert snap_compare(app, terminal_size=size, run_before=goto("replicas"))


def test_dashboard_mid_stream(snap_compare: Snap, state_dir: Path) -> None:
    from moodle_wizard.core import events as ev

    def streaming(app: WizardApp) -> None:
        clock = app.clock
        assert isinstance(clock, FixedClock)
        model = app.run_model
        model.apply([ev.StepStarted("replicas", "Seed the replicas"),
                     ev.ActionStarted("replicas", "stream", "Stream one physical backup of db1 "
                                      "to db2, db3 (detached job on db1)"),
                     ev.OutputLine("replicas", "db1", "[00] Streaming ./ibdata1"),
                     ev.Progress("replicas", "seed stream", 40 * 2**20, 132 * 2**20)])
        clock.advance(4)
        # The engine's rate (core/progress.py) and the inventory's stream_limit.
        model.apply([ev.OutputLine("replicas", "db1", "[01] Streaming ./moodle/mdl_log.ibd"),
                     ev.Progress("replicas", "seed stream", 88 * 2**20, 132 * 2**20,
                                 12.6e6, 15_000_000)])

    app = app_for(state_dir, {"discover": "done", "prepare-source": "done"})
    assert snap_compare(app, terminal_size=(80, 24), run_before=goto("dashboard", streaming))


def modal(make: Callable[[WizardApp], Any], screen: str = "dashboard",
          statuses: dict[str, str] | None = None
          ) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, WizardApp)
        await goto(screen)(pilot)
        app.push_screen(make(app))
        await pilot.pause()
    return run_before


def rollback_of_replicas(app: WizardApp) -> RollbackModal:
    assert app.state is not None
    # The journal says db2 was seeded and db3 never touched (the seed stopped before it).
    app.state.step(StepName.REPLICAS).actions = [
        ActionRecord(id=f"{a}:db2", status=ActionStatus.DONE)
        for a in ("stop", "datadir", "config", "start", "replicate")]
    inventory = app.draft.validate()
    return RollbackModal(StepName.PREPARE_SOURCE,
                         preview.rollback_preview(inventory, app.state, StepName.PREPARE_SOURCE))


MODALS: dict[str, tuple[Callable[[WizardApp], Any], str, dict[str, str]]] = {
    "host_key": (lambda app: HostKeyModal("db2", "10.77.0.12",
                                          "SHA256:Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0MTI"),
                 "hosts", {"discover": "done"}),
    "rollback": (rollback_of_replicas, "dashboard", DONE3),
    "resume": (lambda app: ResumeModal(load(app_state_file()), "3 h ago"), "welcome",
               {"discover": "done", "prepare-source": "done", "replicas": "running"}),
    "risky_question": (lambda app: ConfirmModal(
        "db2: /var/lib/mysql is not empty (ibdata1, mysql). Move it aside to "
        "/var/lib/mysql.moodle-wizard-<time> (kept, not deleted) and seed over it?",
        risky=True), "dashboard", DONE3),
}


@pytest.mark.parametrize("name", list(MODALS))
def test_modal(snap_compare: Snap, state_dir: Path, name: str) -> None:
    make, screen, statuses = MODALS[name]
    app = app_for(state_dir, statuses)
    assert snap_compare(app, terminal_size=(80, 24), run_before=modal(make, screen, statuses))
