"""Issue 10, item 6 in the wizard: the cutover's rollback refused because config.php changed
after the cutover. The dashboard shows the refusal (with its masked diff) and asks, as a risky
question, whether to overwrite; only a yes retries the same rollback with force_config.

The rollback operation is scripted here (it would need the app host); the refusal text and
the journal entry it leaves are the ones the cutover step writes (tests/unit covers the step).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.engine import MigrationError
from moodle_wizard.core.state import MigrationState, StepName
from moodle_wizard.tui import ops
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.runner import SessionIO
from moodle_wizard.tui.screens.confirm import ConfirmModal
from moodle_wizard.tui.screens.dashboard import DashboardScreen
from moodle_wizard.tui.screens.rollback import RollbackModal
from moodle_wizard.tui.widgets.step_table import StepTable
from tests.tui.conftest import save_migration, screen_text, wait_for

MakeApp = Callable[..., WizardApp]
REFUSAL = ("rollback of cutover: app: /var/www/moodle/config.php was changed by someone else "
           "after the cutover; ... +// the admin's line ... moodle-wizard rollback "
           "--force-config")


@pytest.mark.parametrize("answer", ["y", "n"])
async def test_a_refused_config_rollback_asks_before_overwriting(
        make_app: MakeApp, state_dir: Path, monkeypatch: pytest.MonkeyPatch,
        answer: str) -> None:
    path = save_migration(state_dir, statuses={
        "discover": "done", "prepare-source": "done", "replicas": "done", "proxysql": "done",
        "vip": "done", "cutover": "done"}, facts={"cutover": {"apps": {"app": {
            "path": "/var/www/moodle/config.php", "backup": "/var/backups/moodle-wizard/x",
            "mode": "640", "sha256_before": "a", "sha256_after": "b"}}}})
    calls: list[tuple[StepName | None, bool]] = []

    async def scripted(io: SessionIO, settings: Any, inventory: Any, state: MigrationState,
                       path: Path, to: StepName | None, force_config: bool = False) -> Any:
        calls.append((to, force_config))
        if not force_config:
            state.steps.cutover.facts.apps["app"].changed_since_cutover = True
            io.post(ops.StateSnapshot(state.model_copy(deep=True)))
            raise MigrationError(REFUSAL)
        return ops.RunResult(state.model_copy(deep=True), ["cutover"])

    monkeypatch.setattr(ops, "rollback", scripted)
    app = make_app(ask_resume=False)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.open_saved(path)
        app.goto("dashboard")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        app.screen.query_one(StepTable).select("cutover")
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackModal), what="confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        modal = app.screen
        assert isinstance(modal, ConfirmModal) and modal.risky
        assert "config.php on app was changed after the cutover" in modal.message
        assert app.focused is not None and app.focused.id == "no", "starts on No"
        await pilot.press(answer)
        if answer == "y":
            await wait_for(pilot, lambda: len(calls) == 2 and not app.runner.busy,
                           what="the forced rollback")
            assert calls == [(StepName.CUTOVER, False), (StepName.CUTOVER, True)]
        else:
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen),
                           what="back on the dashboard")
            await pilot.pause()
            assert calls == [(StepName.CUTOVER, False)]
            assert "--force-config" in screen_text(app)
    assert json.loads(path.read_text())["steps"]["cutover"]["status"] == "done"
