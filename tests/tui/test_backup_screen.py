"""The Backup screen's stream limit and existing backup: validated as typed with the
inventory's own messages, written to the draft the engine will read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.widgets import RadioButton

from moodle_wizard.core.inventory import Role
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.screens.backup import BackupScreen
from moodle_wizard.tui.screens.replicas import ReplicasScreen
from moodle_wizard.tui.widgets.form_field import FormField
from tests.tui.conftest import save_migration, screen_text, wait_for

MakeApp = Callable[..., WizardApp]


async def backup_screen(app: WizardApp, pilot: object, state_dir: Path) -> BackupScreen:
    assert app.open_saved(save_migration(state_dir, statuses={"discover": "done"}))
    app.goto("backup")
    await pilot.pause()  # type: ignore[attr-defined]
    assert isinstance(app.screen, BackupScreen)
    return app.screen


def hint(field: FormField) -> str:
    return str(field.query_one(".form-hint").render())


async def test_the_stream_limit_is_checked_and_lands_in_the_inventory(
        make_app: MakeApp, state_dir: Path) -> None:
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await backup_screen(app, pilot, state_dir)
        limit = screen.query_one("#stream-limit", FormField)
        limit.input.focus()
        await pilot.press(*"fast")
        assert "'fast' is not a rate: write it as \"100MB/s\"" in hint(limit)
        assert "stream_limit" not in app.draft.migration
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, BackupScreen), "a bad limit keeps you here"
        for _ in "fast":
            await pilot.press("backspace")
        await pilot.press(*"50MB/s")
        assert app.draft.migration["stream_limit"] == "50MB/s"
        assert app.draft.validate().migration.stream_limit_bytes == 50_000_000
        # 138.5 MB at 50 MB/s: never under 2.8 s, whatever the hosts could do.
        assert "2.8 s to" in screen_text(app) and "at most 50.0 MB/s" in screen_text(app)
        for _ in "50MB/s":
            await pilot.press("backspace")
        assert "stream_limit" not in app.draft.migration, "blank: no limit"
        await pilot.press(*"20MB/s", "ctrl+n")
        await wait_for(pilot, lambda: isinstance(app.screen, ReplicasScreen), what="replicas")
        assert app.draft.validate().migration.stream_limit == "20MB/s"


async def test_an_existing_backup_on_the_source_or_on_a_backup_host(
        make_app: MakeApp, state_dir: Path) -> None:
    app = make_app(ask_resume=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await backup_screen(app, pilot, state_dir)
        existing = screen.query_one("#backup-existing")
        assert not existing.display, "only with the existing method"
        screen.query_one("#m-existing", RadioButton).value = True
        await pilot.pause()
        assert existing.display
        assert app.draft.migration["backup_method"] == "existing"
        assert "known after discovery" in screen_text(app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, BackupScreen), "host and path are required"
        host = screen.query_one("#backup-host", FormField)
        path = screen.query_one("#backup-path", FormField)
        host.input.focus()
        await pilot.press(*"nas")
        assert "'nas' is not a host of the inventory" in hint(host)
        for _ in "nas":
            await pilot.press("backspace")
        await pilot.press(*"db1")
        path.input.focus()
        await pilot.press(*"/srv/backup/../x")
        assert "not a plain absolute path" in hint(path)
        for _ in "../x":
            await pilot.press("backspace")
        await pilot.press(*"nightly")
        assert app.draft.data["backup"] == {"host": "db1", "path": "/srv/backup/nightly"}
        assert app.draft.validate().backup_host == "db1"
        # A host of its own, given as name=address: a host of the inventory, role "backup".
        host.input.focus()
        for _ in "db1":
            await pilot.press("backspace")
        await pilot.press(*"bk=10.77.0.30")
        assert app.draft.hosts["bk"] == {"address": "10.77.0.30", "role": "backup"}
        inventory = app.draft.validate()
        assert inventory.backup_host == "bk" and Role.BACKUP in inventory.hosts["bk"].plays
        # Back to physical: no [backup] section and no backup host (the inventory refuses a
        # [backup] section with the other methods).
        screen.query_one("#m-physical", RadioButton).value = True
        await pilot.pause()
        assert "backup" not in app.draft.data and "bk" not in app.draft.hosts
        assert app.draft.validate().migration.backup_method.value == "physical"


def existing_on_a_backup_host(app: WizardApp) -> None:
    app.draft.set("migration", "backup_method", "existing")
    app.draft.set("migration", "stream_limit", "50MB/s")
    app.draft.set_role_hosts(Role.BACKUP, [("bk", "10.77.0.30", None)])
    app.draft.set("backup", "host", "bk")
    app.draft.set("backup", "path", "/srv/backup/nightly")


def test_snapshot_existing_backup(snap_compare: Callable[..., bool], state_dir: Path) -> None:
    from moodle_wizard.tui.clock import FixedClock
    from tests.tui.conftest import lab_inventory_text

    path = save_migration(state_dir, statuses={"discover": "done"},
                          inventory=lab_inventory_text())

    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await pilot.pause()
        assert app.open_saved(path)
        existing_on_a_backup_host(app)
        app.goto("backup")
        await pilot.pause()

    app = WizardApp(clock=FixedClock(), blink=False, ask_resume=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
