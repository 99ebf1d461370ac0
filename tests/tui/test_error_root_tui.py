"""The TUI shows an operator's problem as its message and a bug as a short note naming the
log, by the same decision as the headless commands (core/errors.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.screens.discovery import DiscoveryScreen
from moodle_wizard.tui.screens.hosts import HostsScreen
from tests.tui.conftest import wait_for
from tests.unit.test_error_root import DB_PASSWORD, break_discovery, fake_network

MakeApp = Callable[..., WizardApp]


async def discover(app: WizardApp, pilot: object) -> str:
    """Fill the hosts screen and go on: discovery starts by itself; its error."""
    app.new_migration()
    await pilot.pause()  # type: ignore[attr-defined]
    screen = app.screen
    assert isinstance(screen, HostsScreen)
    for key, value in {"source": "db1=127.0.0.1", "app": "app=127.0.0.2",
                       "replicas": "db2=127.0.0.3", "name": "school"}.items():
        screen.field(key).value = value
    await pilot.pause()  # type: ignore[attr-defined]
    await pilot.press("ctrl+n")  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: isinstance(app.screen, DiscoveryScreen),  # type: ignore[arg-type]
                   what="the discovery screen")
    await wait_for(pilot, lambda: "discover" in app.errors,  # type: ignore[arg-type]
                   what="discovery to fail")
    return app.errors["discover"]


async def test_an_unsupported_server_is_the_operators_problem_not_a_bug(
        make_app: MakeApp, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_network(monkeypatch)  # the source says MariaDB 5.5.68
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        error = await discover(app, pilot)
    assert error == ("discover: db1: MariaDB 5.5.68 is too old: moodle-wizard supports "
                     "MariaDB 10.5 to 11.8; nothing was changed")
    assert not (state_dir / "moodle-wizard.log").exists()


async def test_a_bug_is_a_short_note_naming_the_log_that_holds_its_traceback(
        make_app: MakeApp, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_network(monkeypatch)
    break_discovery(monkeypatch)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        error = await discover(app, pilot)
    log = state_dir / "moodle-wizard.log"
    assert error.startswith("KeyError: ") and "a bug in moodle-wizard" in error
    assert str(log) in error and DB_PASSWORD not in error and "\n" not in error
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in broken" in text
    assert DB_PASSWORD not in text
