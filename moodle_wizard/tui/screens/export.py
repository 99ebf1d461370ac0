"""Where to write the runbook."""

from __future__ import annotations

from moodle_wizard.tui.screens.modals import InputModal


class ExportModal(InputModal):
    def __init__(self, default: str) -> None:
        super().__init__(title="Export the runbook",
                         prompt="Every command and SQL statement of the plan, secrets masked, "
                         "as Markdown. Write it to:",
                         hint="Enter to write, Esc to cancel.",
                         dialog_id="export-dialog", input_id="export-path", value=default,
                         strip=True)
        self.default = default
