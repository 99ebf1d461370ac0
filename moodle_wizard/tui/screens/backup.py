"""Screen 4: physical streaming or logical dump, with the expected size and time, and why one
would choose each."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import RadioButton, RadioSet, Static

from moodle_wizard.core.inventory import Role, SeedMethod
from moodle_wizard.tui.clock import duration, size
from moodle_wizard.tui.screens.base import FlowScreen
from moodle_wizard.tui.widgets.plain_text import PlainText
from moodle_wizard.tui.widgets.tick_box import Choice

# Rough rates for the estimate (bytes/s), and where they come from. Shown with the estimate:
# it is a range to plan a window with, not a promise.
RATES = {
    SeedMethod.PHYSICAL: (100e6, 220e6, "measured in the lab: 1.26 GB in 5.8 s over SSH "
                          "(aes128-gcm) on 2 cores; disks and network set yours"),
    SeedMethod.LOGICAL: (5e6, 25e6, "dump and single-threaded import of SQL; indexes are "
                         "rebuilt on each replica"),
}
# One stream feeds every replica (tee); measured: two replicas take 1.6-1.8x one.
EXTRA_REPLICA_FACTOR = 0.7

WHY = {
    SeedMethod.PHYSICAL: (
        "Physical streaming (mariadb-backup / xtrabackup --stream=xbstream)",
        "A copy of the data files, streamed from the source straight into each replica's "
        "datadir; no file in between. Fast, exact, and light on the source. Needs the same "
        "server version on the replicas (the wizard installs it). The usual choice."),
    SeedMethod.LOGICAL: (
        "Logical dump (mariadb-dump / mysqldump --single-transaction)",
        "SQL statements replayed on each replica with sql_log_bin=0. Slower (every index is "
        "rebuilt) and heavier on the replicas, but independent of the on-disk format: use it "
        "when the replicas run a different minor version, or to shed fragmentation."),
}


def estimate(method: SeedMethod, data_bytes: int, replicas: int) -> tuple[str, str]:
    lo_rate, hi_rate, basis = RATES[method]
    factor = 1 + EXTRA_REPLICA_FACTOR * max(0, replicas - 1)
    fastest = data_bytes / hi_rate * factor
    slowest = data_bytes / lo_rate * factor
    return f"{duration(fastest)} to {duration(slowest)}", basis


class BackupScreen(FlowScreen):
    TOPIC = "backup"
    NUMBER = 4
    LABEL = "Backup method"
    NEXT = "replicas"
    BACK = "discovery"
    HELP = ("Choose how the replicas get their first copy. **Physical** streams the data "
            "files from the source into each replica (the default, and the fast one). "
            "**Logical** dumps SQL and imports it (slower, version-independent). Either way "
            "one backup of the source feeds every replica at once, host to host over SSH, "
            "never through this machine, as a detached job that survives a dropped session."
            "\n\nUp and down choose, Enter or Space selects. The estimate is a range to plan a "
            "maintenance window with; the dashboard shows the real rate.")

    def body(self) -> ComposeResult:
        with VerticalScroll(id="backup-body"):
            with RadioSet(id="backup-method"):
                for method in SeedMethod:
                    yield Choice(WHY[method][0], id=f"m-{method.value}")
            yield PlainText("", id="backup-why")
            yield PlainText("", id="backup-estimate")

    def on_mount(self) -> None:
        super().on_mount()
        current = SeedMethod(self.wizard.draft.migration.get("backup_method", "physical"))
        self.query_one(f"#m-{current.value}", RadioButton).value = True
        self.query_one(RadioSet).disabled = self.locked
        self.show(current)

    def on_screen_resume(self) -> None:
        self.show(self.method())

    def method(self) -> SeedMethod:
        pressed = self.query_one(RadioSet).pressed_button
        if pressed is None or pressed.id is None:
            return SeedMethod.PHYSICAL
        return SeedMethod(pressed.id.removeprefix("m-"))

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        method = self.method()
        if not self.locked:
            self.wizard.draft.set("migration", "backup_method", method.value)
        self.show(method)

    def show(self, method: SeedMethod) -> None:
        title, why = WHY[method]
        self.query_one("#backup-why", Static).update(Text.assemble((title + "\n", "bold"), why))
        state = self.wizard.state
        src = state.steps.discover.facts.source if state else None
        replicas = len(self.wizard.draft.role_hosts(Role.REPLICA))
        estimate_widget = self.query_one("#backup-estimate", Static)
        if src is None:
            estimate_widget.update("Size and time: known after discovery.")
            return
        data = src.data_bytes
        span, basis = estimate(method, data, replicas)
        amount = (f"{size(data)} (the datadir)" if method == SeedMethod.PHYSICAL else
                  f"up to {size(data)} of SQL (no index pages; often less)")
        estimate_widget.update(Text.assemble(
            ("Expected size: ", "bold"), amount, "\n",
            ("Expected time: ", "bold"), f"{span} for {replicas} replica(s) from one read "
            "of the source\n", (f"({basis})", "dim")))
