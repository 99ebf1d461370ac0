"""The command palette's commands (ctrl+p) and the app-wide actions the screens bind to: resume,
roll back a step, export the runbook, open the log, help, quit."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import SystemCommand
from textual.screen import Screen

from moodle_wizard.core import journal
from moodle_wizard.core.state import StepName, state_dir
from moodle_wizard.tui.dispatch import EngineOps
from moodle_wizard.tui.operations import Review, Run
from moodle_wizard.tui.screens.confirm import ConfirmModal
from moodle_wizard.tui.screens.export import ExportModal
from moodle_wizard.tui.screens.log_view import LogScreen
from moodle_wizard.tui.screens.step_picker import StepPicker


class Palette(EngineOps):
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Resume", "Continue the saved migration; reattaches to remote jobs "
                            "still running", self.action_resume)
        yield SystemCommand("Rollback step…", "Undo a done step and every step after it, "
                            "behind a confirmation", self.action_rollback_step)
        yield SystemCommand("Export runbook", "Write every command and SQL statement of the "
                            "plan (secrets masked) to a file", self.action_export_runbook)
        yield SystemCommand("Open log", "The audit log of every command and SQL statement run "
                            "(secrets masked) and the run's events", self.action_open_log)

    def resume_saved(self, path: Path) -> None:
        """Continue a saved migration where it was left: once it has started, run on from the
        journal (reattaching to remote jobs); before that, back to the wizard's screens; once
        every step is done, the Operate screen."""
        if not self.open_saved(path):
            return
        if self.all_done():
            self.open_operate()
        elif self.started:
            self.goto("dashboard")
            self.submit(Run())
        else:
            self.goto("discovery")

    def action_resume(self) -> None:
        if self.state is not None and self.state_file is not None and self.all_done():
            self.open_operate()
            return
        if self.state is not None and self.state_file is not None:
            self.goto("dashboard")
            self.submit(Run())
            return
        saved = [p for p, s, _ in journal.saved_migrations() if s is not None]
        if not saved:
            self.notify("no saved migration to resume", severity="warning")
            return
        self.resume_saved(saved[0])

    def action_rollback_step(self) -> None:
        if self.state is None:
            saved = [p for p, s, _ in journal.saved_migrations() if s is not None]
            if not saved or not self.open_saved(saved[0]):
                self.notify("no migration to roll back", severity="warning")
                return
        assert self.state is not None
        from moodle_wizard.tui import preview  # the engine's steps; not for first paint

        choices = [(n, preview.title(n)) for n in journal.ran(self.state)]
        if not choices:
            self.notify("nothing to roll back: no step has run", severity="warning")
            return

        def picked(step: StepName | None) -> None:
            if step is not None:
                self.confirm_rollback(step)

        self.push_screen(StepPicker("Roll back which step (and every step after it)?",
                                    choices), callback=picked)

    def action_export_runbook(self) -> None:
        if self.review is None or self.reviewed_for != self.draft.to_toml():
            if self.state is None:
                self.notify("discover first: the runbook depends on what is on the hosts",
                            severity="warning")
                return
            if self.submit(Review()):
                self.notify("making the runbook (a read-only discovery)…")
                self.after(Review, self.action_export_runbook)
            return
        default = state_dir() / f"{self.draft.name or 'migration'}-runbook.md"
        text = self.review.runbook

        def chosen(path: str | None) -> None:
            if path:
                self.write_runbook(Path(path).expanduser(), text)

        self.push_screen(ExportModal(str(default)), callback=chosen)

    def write_runbook(self, path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc}", severity="error", timeout=10)
            return
        self.notify(f"runbook written to {path}", title="export", timeout=8)

    def action_open_log(self) -> None:
        from moodle_wizard.core.session import audit_path  # the engine's; not for first paint

        audit = audit_path(self.state_file) if self.state_file else None
        self.push_screen(LogScreen(audit, list(self.run_model.log)))

    def action_help(self) -> None:
        # The help renders markdown (rich.markdown, markdown-it, pygments): not for first paint.
        from moodle_wizard.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_guide":
            return self.demo
        return True

    def action_toggle_guide(self) -> None:
        self.guide = not self.guide
        self.set_class(self.guide, "-guide")

    async def action_quit(self) -> None:
        request = self.runner.request
        if not self.runner.busy or request is None or not request.changes_hosts:
            self.exit()
            return
        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(ConfirmModal(
            f"The wizard is busy ({self.runner.current}). Quit anyway? The state is saved, "
            "remote jobs keep running, and the next `moodle-wizard` offers to resume and "
            "reattaches.", risky=False, yes="Quit", no="Stay"), callback=answered)
