"""core/journal.py: the journal questions the TUI and headless share (issue 11, item 3)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from moodle_wizard.core import journal
from moodle_wizard.core.facts import AppCutover
from moodle_wizard.core.preview import dry_context
from moodle_wizard.core.state import MigrationState, StateError, StepName, StepStatus, new_state
from moodle_wizard.core.steps import registry
from moodle_wizard.core.steps.base import Problem, StepError
from tests.tui.conftest import save_migration


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("MOODLE_WIZARD_STATE_DIR", str(path))
    return path


def state_with(**statuses: str) -> MigrationState:
    state = new_state("m", "/nowhere.toml")
    for name, status in statuses.items():
        state.step(name.replace("_", "-")).status = StepStatus(status)
    return state


def write(directory: Path, name: str, state: MigrationState, updated: datetime) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    state.updated_at = updated
    path = directory / f"{name}.json"
    path.write_text(json.dumps(state.model_dump(mode="json")))
    path.chmod(0o600)
    return path


def test_has_run_started_unfinished_all_done() -> None:
    fresh = state_with()
    assert not journal.started(fresh) and not journal.unfinished(fresh)
    assert journal.ran(fresh) == []
    discovered = state_with(discover="done")
    assert journal.has_run(discovered, StepName.DISCOVER)
    assert not journal.started(discovered), "discovery changes nothing on the hosts"
    assert not journal.unfinished(discovered)
    half = state_with(discover="done", prepare_source="done")
    assert journal.started(half) and journal.unfinished(half)
    assert journal.ran(half) == [StepName.DISCOVER, StepName.PREPARE_SOURCE]
    undone = state_with(discover="done", prepare_source="rolled-back")
    assert not journal.has_run(undone, StepName.PREPARE_SOURCE) and not journal.started(undone)
    stopped = state_with(discover="running")
    assert journal.unfinished(stopped), "stopped mid-step"
    every = state_with(**{n.value.replace("-", "_"): "done" for n in StepName})
    assert journal.all_done(every) and not journal.unfinished(every)


def test_saved_migrations_newest_first_unreadable_last(state_dir: Path) -> None:
    now = datetime.now(UTC)
    old = write(state_dir, "old", state_with(discover="done"), now - timedelta(days=2))
    new = write(state_dir, "new", state_with(), now)
    (state_dir / "broken.json").write_text("{not json")
    (state_dir / "broken.json").chmod(0o600)
    (state_dir / ".new.json.tmp.json").write_text("{}")  # a temp file is never a journal
    found = journal.saved_migrations()
    assert [p for p, _, _ in found] == [new, old, state_dir / "broken.json"]
    assert found[2].state is None and found[2].error
    assert found[0].state is not None and found[0].error is None


def test_find_state_names_the_problem(state_dir: Path) -> None:
    with pytest.raises(StateError, match="no migration to resume"):
        journal.find_state(None)
    now = datetime.now(UTC)
    one = write(state_dir, "one", state_with(), now)
    assert journal.find_state(None) == one
    write(state_dir, "two", state_with(), now)
    with pytest.raises(StateError, match=r"several migrations are saved \(one, two\)"):
        journal.find_state(None)
    assert journal.find_state("two") == state_dir / "two.json"


def test_a_started_journal_is_never_taken_over(state_dir: Path) -> None:
    now = datetime.now(UTC)
    discovered = write(state_dir, "a", state_with(discover="done"), now)
    assert journal.saved_conflict(discovered) is None
    started = write(state_dir, "b", state_with(discover="done", replicas="failed"), now)
    problem = journal.saved_conflict(started)
    assert problem is not None and "has started" in problem and "another name" in problem


def test_config_php_changed_since_cutover() -> None:
    state = state_with()
    assert journal.config_changed_since_cutover(state) == []
    recorded = {"path": "/p", "backup": "/b", "mode": "640", "sha256_before": "0"}
    state.steps.cutover.facts.apps = {
        "app": AppCutover(**recorded, changed_since_cutover=True),
        "app2": AppCutover(**recorded, changed_since_cutover=False)}
    assert journal.config_changed_since_cutover(state) == ["app"]


# -- findings --------------------------------------------------------------------------------


class FakeStep:
    name: ClassVar[StepName]
    answer: ClassVar[list[Problem] | Exception] = []

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    async def preflight(self) -> list[Problem]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def fake(name: StepName, answer: list[Problem] | Exception) -> type[FakeStep]:
    return type(f"Fake{name.name}", (FakeStep,), {"name": name, "answer": answer})


async def test_findings_are_every_later_step_not_yet_run(
        monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    path = save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done"})
    state = MigrationState.model_validate_json(path.read_text())
    from moodle_wizard.core.inventory import load_inventory

    ctx = dry_context(load_inventory(Path(state.inventory_path)), state)
    ctx.secrets.register("test password", "s3cret-pw")
    steps = {
        StepName.DISCOVER: fake(StepName.DISCOVER, [Problem("error", "never asked")]),
        StepName.PREPARE_SOURCE: fake(StepName.PREPARE_SOURCE, [Problem("error", "has run")]),
        StepName.REPLICAS: fake(StepName.REPLICAS, [Problem("question", "wipe?", risky=True)]),
        StepName.PROXYSQL: fake(StepName.PROXYSQL, StepError("bad s3cret-pw")),
        StepName.VIP: fake(StepName.VIP, []),
        StepName.CUTOVER: fake(StepName.CUTOVER, [Problem("warning", "slow")]),
    }
    monkeypatch.setattr(registry, "STEP_CLASSES", steps)  # the journal asks it when it runs
    found = await journal.findings(ctx)
    assert found == [
        journal.Finding("replicas", "question", "wipe?", True),
        journal.Finding("proxysql", "error", "bad ********"),
        journal.Finding("cutover", "warning", "slow"),
    ]
    assert await journal.step_findings(ctx, StepName.PREPARE_SOURCE) == [
        journal.Finding("prepare-source", "error", "has run")]

