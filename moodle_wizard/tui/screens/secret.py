"""A secret the engine needs and found neither in the environment nor in the secrets file.
Typed masked; kept in this process's memory only; never written by the wizard."""

from __future__ import annotations

from moodle_wizard.tui.screens.modals import InputModal


class SecretModal(InputModal):
    def __init__(self, question: str) -> None:
        self.question = question.rstrip(": ")
        super().__init__(title="A secret is needed", prompt=f"{self.question}:",
                         hint="Enter to give it; it stays in memory and is never saved. To "
                         "avoid this question, put it in the inventory's [secrets] file "
                         "(0600) or the environment.",
                         dialog_id="secret-dialog", input_id="secret-input", password=True)
