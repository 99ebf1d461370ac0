"""The order of the steps (core/steps/order.py) in the TUI: chosen on the Backup screen (with
what "auto" does for this source), shown with its reason on the Review screen and in the start
confirmation, and followed by the dashboard's rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import RadioButton

from moodle_wizard.core.state import MigrationOrder
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.ops import ReviewResult
from moodle_wizard.tui.screens.backup import BackupScreen
from moodle_wizard.tui.screens.confirm import ConfirmModal
from moodle_wizard.tui.screens.dashboard import DashboardScreen
from moodle_wizard.tui.screens.review import ReviewScreen
from moodle_wizard.tui.screens.step_picker import StepPicker
from moodle_wizard.tui.widgets.step_table import StepTable
from tests.tui.conftest import FIXTURES, save_migration, screen_text, wait_for

MakeApp = Callable[..., WizardApp]


def flat(app: WizardApp) -> str:
    """The screen's text with its wrapping undone (a sentence may wrap anywhere at 80x24)."""
    return " ".join(screen_text(app).split())


async def test_backup_offers_the_order_and_says_what_auto_does_here(
        make_app: MakeApp, state_dir: Path) -> None:
    app = make_app(ask_resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.open_saved(save_migration(state_dir, statuses={"discover": "done"}))
        app.goto("backup")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BackupScreen)
        # The inventory's default.
        assert screen.query_one("#o-auto", RadioButton).value
        # The lab's db1 has its binary log off: it must restart, so auto is proxy-first.
        assert "For this source: proxy-first (db1 must restart" in flat(app)
        screen.query_one("#backup-order").focus()
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert app.draft.migration["order"] == "classic"
        await pilot.press("up", "up", "enter")
        await pilot.pause()
        assert app.draft.migration["order"] == "auto"
        assert "For this source: proxy-first (db1 must restart" in flat(app)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.draft.migration["order"] == "proxy-first"
        assert app.draft.validate().migration.order == "proxy-first"
        shown = flat(app)
        assert "a pause of about the restart's length instead of failed requests" in shown
        assert "For this source" not in shown
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.draft.validate().migration.order == "classic"
        assert "Moodle's requests fail while it does" in flat(app)


async def test_backup_says_when_the_source_cannot_take_proxy_first(
        make_app: MakeApp, state_dir: Path) -> None:
    """A source listening on loopback only: core refuses proxy-first, the screen says why."""
    path = save_migration(state_dir, statuses={"discover": "done"})
    app = make_app(ask_resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.open_saved(path)
        assert app.state is not None
        source = app.state.steps.discover.facts.source
        assert source is not None
        source.bind_address = "127.0.0.1"
        app.draft.set("migration", "order", "proxy-first")
        app.goto("backup")
        await pilot.pause()
        assert "listens on loopback only" in flat(app)
        assert "✗" in screen_text(app)


async def test_review_shows_the_order_and_why_and_the_steps_in_that_order(
        make_app: MakeApp, state_dir: Path) -> None:
    app = make_app(ask_resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.open_saved(save_migration(state_dir, statuses={"discover": "done"}))
        app.review = ReviewResult((FIXTURES / "runbook.md").read_text(), [],
                                  MigrationOrder.PROXY_FIRST,
                                  "db1 must restart: behind ProxySQL, Moodle's requests wait "
                                  "instead of failing")
        app.reviewed_for = app.draft.to_toml()
        app.goto("review")
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        shown = flat(app)
        assert ("Order: proxy-first - ProxySQL and the VIP first: the source's restart becomes "
                "a pause of about the restart's length instead of failed requests.") in shown
        assert "Why: db1 must restart: behind ProxySQL" in shown
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirm")
        message = str(app.screen.query_one("#confirm-message").render())
        assert "3. ProxySQL on the proxy hosts" in message
        assert "5. Point Moodle at the VIP" in message
        assert "6. Seed the replicas" in message


async def test_dashboard_rows_follow_a_proxy_first_journal(
        make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(state_dir, order="proxy-first", statuses={
        "discover": "done", "prepare-source": "done", "proxysql": "done", "vip": "done",
        "cutover": "done", "replicas": "failed"}, errors={"replicas": "CancelledError: "})
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.open_saved(path)
        app.goto("dashboard")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        table = screen.query_one(StepTable)
        assert list(app.run_model.rows) == ["discover", "prepare-source", "proxysql", "vip",
                                            "cutover", "replicas"]
        shown = screen_text(app)
        rows = [shown.index(t) for t in ("Prepare the source", "ProxySQL on the proxy hosts",
                                        "Point Moodle at the VIP", "Seed the replicas")]
        assert rows == sorted(rows), "the rows are drawn in the journal's order"
        assert "✗ FAILED" in shown
        table.select("replicas")
        await pilot.pause()
        assert "interrupted (the wizard stopped); resume reattaches" in screen_text(app)


async def test_rollback_picker_lists_the_steps_in_the_order_they_ran(
        make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(state_dir, order="proxy-first", statuses={
        "discover": "done", "prepare-source": "done", "proxysql": "done", "vip": "done",
        "cutover": "done", "replicas": "failed"})
    app = make_app(ask_resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.open_saved(path)
        app.action_rollback_step()
        await wait_for(pilot, lambda: isinstance(app.screen, StepPicker), what="the picker")
        assert isinstance(app.screen, StepPicker)
        assert [n.value for n, _ in app.screen.choices] == [
            "discover", "prepare-source", "proxysql", "vip", "cutover", "replicas"]
