"""F1 help on every screen, the command palette's entries, and the inventory the screens write
being the one the engine reads."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.command import CommandPalette

from moodle_wizard.core.inventory import load_inventory
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.draft import InventoryDraft, dumps, parse_host_list
from moodle_wizard.tui.screens import SCREENS
from moodle_wizard.tui.screens.help import HelpScreen
from moodle_wizard.tui.screens.log_view import LogScreen
from moodle_wizard.tui.screens.step_picker import StepPicker
from moodle_wizard.tui.widgets.runbook_view import RunbookView
from tests.tui.conftest import (
    FIXTURES,
    lab_inventory_text,
    save_migration,
    screen_text,
    wait_for,
)

MakeApp = Callable[..., WizardApp]


@pytest.mark.parametrize("name", list(SCREENS))
async def test_f1_opens_help_for_every_screen(make_app: MakeApp, state_dir: Path,
                                              name: str) -> None:
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.open_saved(save_migration(state_dir, statuses={"discover": "done"}))
        app.goto(name)
        about = app.screen_for(name)
        await wait_for(pilot, lambda: app.screen is about and about.is_mounted, what=name)
        await pilot.press("f1")

        def help_text() -> str:
            # Pushed is not yet composed: the text is there once the screen has mounted.
            screen = app.screen
            found = screen.query("#help-text") if isinstance(screen, HelpScreen) else None
            return found.first(RunbookView).text if found else ""

        await wait_for(pilot, help_text, what="help")
        text = help_text()
        assert text.startswith(about.HELP)
        assert "| `f1` | Help |" in text and "ctrl+p" in text, "the keys are listed"
        assert "Help: " in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is about, what=f"back on {name}")


async def palette(app: WizardApp, pilot: object, query: str) -> None:
    await pilot.press("ctrl+p")  # type: ignore[attr-defined]
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette),  # type: ignore[arg-type]
                   what="the palette")
    await pilot.press(*query)  # type: ignore[attr-defined]
    await pilot.pause(0.3)  # type: ignore[attr-defined]  # the palette searches in a worker
    await pilot.press("enter")  # type: ignore[attr-defined]


async def test_palette_rollback_step_picks_a_step(make_app: MakeApp, state_dir: Path) -> None:
    save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done"})
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await palette(app, pilot, "Rollback step")
        await wait_for(pilot, lambda: isinstance(app.screen, StepPicker), what="the picker")
        options = app.screen.query_one("#step-options")
        assert [o.id for o in options.options] == ["discover", "prepare-source"]  # type: ignore[attr-defined]


async def test_palette_open_log_shows_the_audit_trail(make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(state_dir, statuses={"discover": "done"})
    path.with_suffix(".audit.log").write_text(
        "2025-03-14T07:30:01Z db1 sql: SELECT @@datadir AS datadir\n")
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.open_saved(path)
        await palette(app, pilot, "Open log")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), what="the log")
        from textual.widgets import Log

        assert "db1 sql: SELECT @@datadir" in "\n".join(app.screen.query_one(Log).lines)


async def test_palette_export_runbook_needs_a_discovered_migration(make_app: MakeApp) -> None:
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await palette(app, pilot, "Export runbook")
        await pilot.pause()
        assert any("discover first" in str(n.message) for n in app._notifications)


def test_the_drafts_toml_is_the_inventory_the_engine_reads(tmp_path: Path) -> None:
    source = tmp_path / "lab.toml"
    source.write_text(lab_inventory_text())
    draft = InventoryDraft.from_file(source)
    draft.section("proxysql")["readonly_user"] = "moodle_ro2"
    draft.hosts["db2"]["server_id"] = 12
    written = tmp_path / "out.toml"
    written.write_text(draft.to_toml())
    again = load_inventory(written)
    assert again.proxysql.readonly_user == "moodle_ro2"
    assert again.hosts["db2"].server_id == 12
    assert again.vip is not None and again.vip.address == "10.77.0.100"
    assert again.model_dump(exclude={"path", "proxysql", "hosts"}) == load_inventory(
        source).model_dump(exclude={"path", "proxysql", "hosts"})


def test_toml_writer_round_trips_awkward_values() -> None:
    data = {"a": {"quote": 'say "hi"\\n', "uni": "Zürich ✓", "n": 3, "f": 1.5, "t": True,
                  "list": ["x", "y"], "none": None},
            "hosts": {"my host": {"address": "10.0.0.1"}},
            "arr": [{"k": 1}, {"k": 2}]}
    back = tomllib.loads(dumps(data))
    expected = {**data, "a": {k: v for k, v in data["a"].items() if v is not None}}
    assert back == expected


def test_host_lists_take_names_addresses_and_ports() -> None:
    assert parse_host_list("db2=10.0.0.12, db3=10.0.0.13:2222 [::1]:22") == [
        ("db2", "10.0.0.12", None), ("db3", "10.0.0.13", 2222), ("h--1", "::1", 22)]


def test_fixture_runbook_is_what_the_engine_masks() -> None:
    assert "********" in (FIXTURES / "runbook.md").read_text()
