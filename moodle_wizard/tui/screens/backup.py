"""Screen 4: physical streaming or logical dump, with the expected size and time, and why one
would choose each; and the order of the steps (proxy-first or classic), with what "auto" will
choose for this source once discovery has run."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import RadioButton, RadioSet, Static

from moodle_wizard.core.inventory import Role, SeedMethod
from moodle_wizard.tui import preview
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


# The inventory's [migration] order, in the operator's words: (choice's label, what it does).
ORDERS = {
    "auto": ("Automatic: proxy-first when the source must restart",
             "The wizard chooses once discovery has run: proxy-first when the source must "
             "restart to turn its binary log on, classic when it need not."),
    "proxy-first": ("Proxy-first: ProxySQL and the VIP first",
                    "ProxySQL and the VIP first: the source's restart becomes a pause of about "
                    "the restart's length instead of failed requests. Moodle moves to the VIP "
                    "before the replicas are seeded; they join as readers at the end."),
    "classic": ("Classic: the replicas first",
                "The replicas first, then ProxySQL, the VIP and the cutover. Moodle talks to "
                "the source directly until the cutover: if the source must restart, Moodle's "
                "requests fail while it does (2.3 s in the lab)."),
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
            "\n\nThe **order** of the steps: **proxy-first** puts ProxySQL and the VIP in front "
            "of the source before its restart, so Moodle's requests wait through the restart "
            "instead of failing; **classic** seeds the replicas first. **Automatic** takes "
            "proxy-first when the source must restart."
            "\n\nUp and down choose, Enter or Space selects, Tab moves to the next choice. The "
            "estimate is a range to plan a maintenance window with; the dashboard shows the "
            "real rate.")

    def body(self) -> ComposeResult:
        with VerticalScroll(id="backup-body"):
            with RadioSet(id="backup-method"):
                for method in SeedMethod:
                    yield Choice(WHY[method][0], id=f"m-{method.value}")
            yield PlainText("", id="backup-why")
            yield PlainText("", id="backup-estimate")
            yield PlainText("Order of the steps", id="order-title")
            with RadioSet(id="backup-order"):
                for value, (label, _) in ORDERS.items():
                    yield Choice(label, id=f"o-{value}")
            yield PlainText("", id="order-why")

    def on_mount(self) -> None:
        super().on_mount()
        current = SeedMethod(self.wizard.draft.migration.get("backup_method", "physical"))
        self.query_one(f"#m-{current.value}", RadioButton).value = True
        # The inventory's default (core/inventory.py) until an operator picks another.
        order = self.wizard.draft.migration.get("order", "auto")
        self.query_one(f"#o-{order if order in ORDERS else 'auto'}", RadioButton).value = True
        for radio_set in self.query(RadioSet):
            radio_set.disabled = self.locked
        self.show(current)

    def on_screen_resume(self) -> None:
        self.show(self.method())

    def method(self) -> SeedMethod:
        pressed = self.query_one("#backup-method", RadioSet).pressed_button
        if pressed is None or pressed.id is None:
            return SeedMethod.PHYSICAL
        return SeedMethod(pressed.id.removeprefix("m-"))

    def order(self) -> str:
        pressed = self.query_one("#backup-order", RadioSet).pressed_button
        if pressed is None or pressed.id is None:
            return "auto"
        return pressed.id.removeprefix("o-")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        method = self.method()
        if not self.locked:
            self.wizard.draft.set("migration", "backup_method", method.value)
            self.wizard.draft.set("migration", "order", self.order())
        self.show(method)

    def show_order(self) -> None:
        """What the chosen order does; for "auto", what it will do for this source."""
        choice = self.order()
        text = Text(ORDERS[choice][1])
        state = self.wizard.state
        inventory = None
        if state is not None:
            try:
                inventory = self.wizard.draft.validate()
            except Exception:  # a draft the forms have not finished: nothing to ask yet
                inventory = None
        if state is not None and inventory is not None:
            order, why = preview.order(inventory, state)
            if order is not None and choice == "auto":
                text.append_text(Text.assemble(
                    "\n", ("For this source: ", "bold"), f"{order} ({why})."))
            elif state.steps.discover.facts.source is not None:
                text.append_text(Text.assemble("\n", ("✗ ", "red"), why))
        self.query_one("#order-why", Static).update(text)

    def show(self, method: SeedMethod) -> None:
        title, why = WHY[method]
        self.query_one("#backup-why", Static).update(Text.assemble((title + "\n", "bold"), why))
        self.show_order()
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
