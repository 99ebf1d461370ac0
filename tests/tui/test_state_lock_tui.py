"""The TUI takes the migration's lock before it reads the journal (issue 10, item 14)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from moodle_wizard.core.migrationlock import LockHeldError, MigrationLock
from moodle_wizard.core.state import load
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.screens.error import ErrorScreen
from tests.tui.conftest import save_migration, wait_for

MakeApp = Callable[..., WizardApp]

# A journal another wizard is in the middle of replacing.
HALF_WRITTEN = '{"schema_version": 1, "migration_id": "mwlab", "steps": {'


async def test_opening_a_busy_migration_says_busy_without_reading_it(
        make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(state_dir, statuses={"discover": "done"})
    path.write_text(HALF_WRITTEN)
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        with MigrationLock(path):  # another wizard drives it
            assert not app.open_saved(path)
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), what="the error")
            assert isinstance(app.screen, ErrorScreen)
            assert app.screen.heading == "This migration is busy"
            assert app.state is None
        assert path.read_text() == HALF_WRITTEN


async def test_an_opened_migration_keeps_its_lock(make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(state_dir, statuses={"discover": "done"})
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)):
        assert app.open_saved(path)
        assert app.state is not None and app.state == load(path)
        with pytest.raises(LockHeldError, match="is driving this migration"):
            MigrationLock(path).acquire()
        assert app.open_saved(path)  # opening it again keeps (not drops) the lock
        with pytest.raises(LockHeldError, match="is driving this migration"):
            MigrationLock(path).acquire()
