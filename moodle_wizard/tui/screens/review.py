"""Screen 8: the whole plan as the runbook (every command and SQL, secrets masked), what the
read-only checks found, export to a file; nothing has changed until the operator confirms."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from moodle_wizard.core.state import MigrationOrder
from moodle_wizard.tui import preview
from moodle_wizard.tui.operations import Review, Run
from moodle_wizard.tui.screens.base import FlowScreen
from moodle_wizard.tui.widgets.finding_list import FindingList
from moodle_wizard.tui.widgets.plain_text import PlainText
from moodle_wizard.tui.widgets.runbook_view import RunbookView

if TYPE_CHECKING:
    from moodle_wizard.tui.results import ReviewResult


# What each order means for Moodle, in the operator's words (one line under the status).
ORDER_EFFECT = {
    MigrationOrder.PROXY_FIRST: "ProxySQL and the VIP first: the source's restart becomes a "
                                "pause of about the restart's length instead of failed requests",
    MigrationOrder.CLASSIC: "the replicas first, then ProxySQL, the VIP and the cutover",
}


def order_line(review: ReviewResult) -> Text:
    if review.order is None:
        return Text("")
    return Text.assemble(("Order: ", "bold"), (str(review.order), "bold"),
                         f" - {ORDER_EFFECT[review.order]}.\n", (f"Why: {review.why}.", "dim"))


class ReviewScreen(FlowScreen):
    TOPIC = "review"
    NUMBER = 8
    LABEL = "Review the plan"
    NEXT = "dashboard"
    BACK = "vip"
    HELP = ("The runbook is the plan exactly as the wizard will run it: every step, every "
            "command and SQL statement, secrets masked - the same text `moodle-wizard plan` "
            "prints. It is made from a fresh, read-only look at the hosts. The line under the "
            "status says in which order the steps run (proxy-first or classic) and why; the "
            "Backup screen chooses it.\n\n**Nothing has "
            "changed on any server yet.** Press **s** to start the migration (you confirm "
            "once more), **e** to export the runbook to a file, **r** to make it again.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next", "Next", show=False),
        Binding("s", "start", "Start"),
        Binding("e", "app.export_runbook", "Export"),
        Binding("r", "refresh", "Refresh"),
        Binding("escape", "back", "Back"),
    ]

    def body(self) -> ComposeResult:
        with VerticalScroll(id="review-body"):
            yield PlainText("", id="review-status")
            yield PlainText("", id="review-order")
            yield FindingList(id="review-findings")
            yield RunbookView(id="runbook")

    def on_mount(self) -> None:
        super().on_mount()
        self.wizard.changed.subscribe(self, self._changed)

    def on_screen_resume(self) -> None:
        app = self.wizard
        stale = app.review is None or app.reviewed_for != app.draft.to_toml()
        if stale and not app.runner.busy and not app.started:
            app.errors.pop("review", None)
            app.submit(Review())
        self.show()

    def _changed(self, topic: str) -> None:
        if topic == "review":
            self.show()

    def show(self) -> None:
        app = self.wizard
        status = self.query_one("#review-status", Static)
        findings = self.query_one("#review-findings", FindingList)
        runbook = self.query_one("#runbook", RunbookView)
        error = app.errors.get("review")
        ready = app.review is not None and not error and not app.runner.running(Review)
        self.query_one("#review-order", Static).update(
            order_line(app.review) if app.review is not None and ready else "")
        if app.runner.running(Review):
            status.update(Text("… making the runbook: a read-only look at every host",
                               style="dim"))
            return
        if error:
            status.update(Text(f"✗ {error}", style="red"))
            return
        if app.review is None:
            status.update(Text("press r to make the runbook", style="dim"))
            return
        if app.started:
            status.update(Text("The migration has started; this is its plan."))
        else:
            status.update(Text.assemble(("Nothing has changed yet. ", "bold"),
                                        "Read the plan, then press s to start."))
        findings.show(app.review.findings)
        runbook.show(app.review.runbook)

    def action_refresh(self) -> None:
        self.wizard.errors.pop("review", None)
        self.wizard.submit(Review())
        self.show()

    def action_start(self) -> None:
        from moodle_wizard.tui.screens.confirm import ConfirmModal

        app = self.wizard
        if app.started:
            app.goto("dashboard")
            return
        if app.review is None or app.runner.busy:
            self.notify("the runbook is not ready yet", severity="warning")
            return
        errors = FindingList.errors(app.review.findings)
        if errors:
            app.show_error("Fix these before starting", "\n\n".join(
                f"{f.step}: {f.message}" for f in errors))
            return
        titles = "\n".join(f"  {n}. {title}" for n, (_, title, _) in
                           enumerate(preview.steps(app.review.order), 1))

        def answered(yes: bool | None) -> None:
            if yes:
                app.goto("dashboard")
                app.submit(Run())

        app.push_screen(ConfirmModal(
            f"Start the migration {app.draft.name!r}? From now on these steps change your "
            f"servers, in order:\n{titles}\nEach one is journaled and can be rolled back from "
            "the dashboard.", yes="Start", no="Not yet", title="Start the migration"),
            callback=answered)

    def action_next(self) -> None:
        self.action_start()
