"""The TLS option on the ProxySQL screen: a tick box for migration.tls (off by default)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.screens.proxysql import ProxySQLScreen
from moodle_wizard.tui.widgets.tick_box import TickBox
from tests.tui.test_flow_screens import opened

MakeApp = Callable[..., WizardApp]


async def test_the_tls_box_sets_migration_tls(make_app: MakeApp, state_dir: Path) -> None:
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(app, pilot, state_dir, "proxysql")
        screen = app.screen
        assert isinstance(screen, ProxySQLScreen)
        box = screen.query_one("#proxysql-tls", TickBox)
        assert not box.value and "tls" not in app.draft.migration
        assert app.draft.validate().migration.tls is False
        box.focus()
        await pilot.press("space")
        await pilot.pause()
        assert app.draft.migration["tls"] is True
        assert app.draft.validate().migration.tls is True
        await pilot.press("space")
        await pilot.pause()
        assert "tls" not in app.draft.migration  # off is the default: nothing written
