"""core/preview.py: what the engine would do, from the engine's own answers (issue 11, item 3):
the rollback's order is Engine.rollback_steps's, the notes are the steps' rollback_notes, and
the values the screens show come from the steps' declared methods (no getattr)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moodle_wizard.core import preview
from moodle_wizard.core.engine import Engine
from moodle_wizard.core.facts import DiscoverFacts
from moodle_wizard.core.inventory import Inventory, load_inventory
from moodle_wizard.core.state import MigrationState, StepName, load
from tests.tui.conftest import lab_inventory_text, save_migration


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("MOODLE_WIZARD_STATE_DIR", str(path))
    return path


def migration(state_dir: Path, statuses: dict[str, str],
              inventory: str | None = None) -> tuple[Inventory, MigrationState]:
    path = save_migration(state_dir, statuses=statuses, inventory=inventory, facts={
        "prepare-source": {"accounts_created": [["mw_repl", "10.77.0.12"]]},
        "replicas": {"configured": ["db2", "db3"]}})
    state = load(path)
    return load_inventory(Path(state.inventory_path)), state


def test_rollback_preview_is_the_engines_order_with_the_steps_notes(state_dir: Path) -> None:
    inventory, state = migration(state_dir, {"discover": "done", "prepare-source": "done",
                                             "replicas": "failed"})
    engine = Engine(preview.dry_context(inventory, state))
    for to in (None, StepName.PREPARE_SOURCE, StepName.REPLICAS, StepName.VIP):
        shown = preview.rollback_preview(inventory, state, to)
        steps = engine.rollback_steps(to)
        assert [p.name for p in shown] == [s.name for s in steps]
        assert [p.notes for p in shown if not p.unavailable] == [
            s.rollback_notes() for s in steps if s.name in
            {p.name for p in shown if not p.unavailable}]
    names = [p.name for p in preview.rollback_preview(inventory, state, StepName.PREPARE_SOURCE)]
    assert names == [StepName.REPLICAS, StepName.PREPARE_SOURCE], "newest first, from `to` on"
    undo = preview.rollback_preview(inventory, state, StepName.PREPARE_SOURCE)[-1]
    assert any("mw_repl@10.77.0.12" in a.title for a in undo.actions)
    assert preview.rollback_preview(inventory, state, StepName.VIP) == []


def test_values_the_screens_show_come_from_the_steps(state_dir: Path) -> None:
    inventory, state = migration(state_dir, {"discover": "done"})
    ids = preview.replica_server_ids(inventory, state)
    assert sorted(ids) == ["db2", "db3"] and len(set(ids.values())) == 2
    assert 1 not in ids.values(), "never the source's server_id"
    assert preview.source_restart_needed(inventory, state) is True, "the lab's binlog is off"
    vip = preview.vip_settings(inventory, state)
    assert vip["priorities"] == "px1 150, px2 100"
    assert re.fullmatch(r"\d+", vip["virtual_router_id"])


def test_before_discovery_and_without_a_vip_nothing_is_guessed(state_dir: Path) -> None:
    text = re.sub(r"(?ms)^\[vip\].*?(?=^\[)", "", lab_inventory_text(local=True))
    inventory, state = migration(state_dir, {}, inventory=text)
    state.steps.discover.facts = DiscoverFacts()
    assert inventory.vip is None
    assert preview.vip_settings(inventory, state) == {}
    assert preview.replica_server_ids(inventory, state) == {}
    assert preview.source_restart_needed(inventory, state) is None
