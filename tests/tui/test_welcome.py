"""Screen 1 and the resume prompt."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from textual.widgets import Footer, OptionList

from moodle_wizard.core.inventory import Role
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.clock import FixedClock
from moodle_wizard.tui.screens.dashboard import DashboardScreen
from moodle_wizard.tui.screens.discovery import DiscoveryScreen
from moodle_wizard.tui.screens.hosts import HostsScreen
from moodle_wizard.tui.screens.resume import ResumeModal
from moodle_wizard.tui.screens.rollback import RollbackModal
from moodle_wizard.tui.screens.welcome import WelcomeScreen
from tests.tui.conftest import save_migration, screen_text, wait_for

MakeApp = Callable[..., WizardApp]


async def test_welcome_screen_fits_80x24_and_quits_by_key(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        text = app.screen.query_one("#welcome-text")
        assert text.region.width <= 80
        assert "step by step" in str(text.render())
        assert app.screen.query(Footer)
        await pilot.press("ctrl+q")
    assert app.return_code == 0


async def test_without_saved_state_offers_new_demo_quit_and_n_starts(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        menu = app.screen.query_one(OptionList)
        assert [o.id for o in menu.options] == ["new", "demo", "quit"]
        shown = screen_text(app)
        assert "Resume" not in shown and "n New" in shown and "f1 Help" in shown
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, HostsScreen), what="hosts")
        assert app.screen.sub_title == "2/9 Hosts and credentials"


async def test_demo_without_a_lab_says_how_to_build_it(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, HostsScreen), what="hosts")
        assert app.guide and app.has_class("-guide")
        assert any("sudo moodle-wizard demo" in str(n.message)
                   for n in app._notifications)


async def test_demo_prefills_the_lab_inventory_and_shows_the_guide(
        make_app: MakeApp, lab_files: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr("moodle_wizard.tui.app.lab_inventory", lambda: lab_files)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, HostsScreen), what="hosts")
        assert isinstance(app.screen, HostsScreen)
        assert app.screen.field("source").value.startswith("db1=127.0.0.1")
        assert app.draft.role_hosts(Role.REPLICA)[0][:2] == ("db2", "127.0.0.1")
        assert app.screen.query_one(".guide-panel").display
        assert "What this does" in screen_text(app)


async def test_a_finished_looking_state_is_offered_but_not_prompted(
        make_app: MakeApp, state_dir: Path) -> None:
    save_migration(state_dir, statuses={"discover": "done"})
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not isinstance(app.screen, ResumeModal)
        shown = screen_text(app)
        assert "saved migration: mwlab" in shown
        assert "1 of 6 steps done" in shown and "left 2 h ago" in shown


async def test_resume_prompt_after_a_dropped_session_not_now_keeps_welcome(
        make_app: MakeApp, state_dir: Path, clock: FixedClock) -> None:
    save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done",
                                        "replicas": "running"},
                   left=timedelta(hours=3))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeModal), what="the prompt")
        text = str(app.screen.query_one("#resume-text").render())
        assert "'mwlab' was left 3 h ago" in text
        assert "2 of 6 steps done; 'Seed the replicas' running" in text
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        assert app.state is None, "not now: nothing opened, no lock taken"


async def test_resume_prompt_resume_runs_the_real_engine_from_the_journal(
        make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done",
                                               "replicas": "running"})
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeModal), what="the prompt")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen),
                       what="the dashboard")
        # The hosts are closed local ports: the engine's preflight fails before any change.
        await wait_for(pilot, lambda: "run" in app.errors and not app.runner.busy,
                       what="the engine's answer")
        assert "nothing was changed" in app.errors["run"]
        assert "connection refused" in app.errors["run"]
        assert "nothing was changed" in screen_text(app)
    saved = json.loads(path.read_text())
    assert saved["steps"]["replicas"]["status"] == "running"
    assert saved["steps"]["proxysql"]["status"] == "pending"


async def test_resume_of_a_migration_that_only_discovered_returns_to_the_screens(
        make_app: MakeApp, state_dir: Path) -> None:
    save_migration(state_dir, statuses={"discover": "done"})
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, DiscoveryScreen), what="discovery")
        assert not app.runner.busy, "discovery is not run again: the saved facts stand"
        assert "MariaDB 10.11.19" in screen_text(app)


async def test_roll_back_from_welcome_confirms_everything_newest_first(
        make_app: MakeApp, state_dir: Path) -> None:
    save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done"},
                   facts={"prepare-source": {"accounts_created": [["mw_repl", "10.77.0.12"]]}})
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackModal),
                       what="the rollback confirmation")
        listing = str(app.screen.query_one("#rollback-steps").render())
        assert listing.index("Prepare the source") < listing.index("Connect and discover")
        assert "Drop mw_repl@10.77.0.12 [db1]" in listing
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert not app.runner.busy
