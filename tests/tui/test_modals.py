"""The one yes/no modal and the one input modal (issue 11): each concrete question answers only
to its own keys, starts where it should, and returns what it was given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import ModalScreen

from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.screens.confirm import ConfirmModal
from moodle_wizard.tui.screens.export import ExportModal
from moodle_wizard.tui.screens.host_key import HostKeyModal
from moodle_wizard.tui.screens.modals import InputModal, YesNoModal
from moodle_wizard.tui.screens.rollback import RollbackModal
from moodle_wizard.tui.screens.secret import SecretModal

MakeApp = Callable[..., WizardApp]


async def ask(make_app: MakeApp, modal: ModalScreen[Any], *keys: str) -> list[Any]:
    answers: list[Any] = []
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(modal, callback=answers.append)
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        if not answers:
            answers.append(("still asking", app.screen is modal))
    return answers


def test_every_question_is_one_of_the_two_modals() -> None:
    assert all(issubclass(c, YesNoModal) for c in (ConfirmModal, HostKeyModal, RollbackModal))
    assert all(issubclass(c, InputModal) for c in (ExportModal, SecretModal))


async def test_a_host_key_is_accepted_only_with_its_own_key(make_app: MakeApp) -> None:
    modal = HostKeyModal("db2", "10.77.0.12", "SHA256:abc")
    assert await ask(make_app, modal, "y", "enter") == [False], \
        "y is the confirm modal's key, not this one's; Enter starts on Refuse"
    assert await ask(make_app, HostKeyModal("db2", "", "SHA256:abc"), "a") == [True]


async def test_a_risky_confirm_starts_on_no_and_a_plain_one_on_yes(make_app: MakeApp) -> None:
    assert await ask(make_app, ConfirmModal("wipe?", risky=True), "enter") == [False]
    assert await ask(make_app, ConfirmModal("go on?"), "enter") == [True]
    assert await ask(make_app, ConfirmModal("wipe?", risky=True), "a") == [
        ("still asking", True)]


async def test_the_input_modals_return_what_was_typed(make_app: MakeApp) -> None:
    assert await ask(make_app, SecretModal("password: "), *" pw ", "enter") == [" pw "]
    assert await ask(make_app, ExportModal("/tmp/x.md "), "end", "enter") == ["/tmp/x.md"]
    assert await ask(make_app, ExportModal("/tmp/x.md"), "escape") == [""]
