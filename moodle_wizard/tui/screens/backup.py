"""Screen 4: physical streaming, logical dump or an existing backup, with the expected size and
time, and why one would choose each; the seed stream's rate limit; and the order of the steps
(proxy-first or classic), with what "auto" will choose for this source once discovery has
run."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalGroup, VerticalScroll
from textual.widgets import RadioButton, RadioSet, Static

from moodle_wizard.core.inventory import Role, SeedMethod
from moodle_wizard.core.inventory_parts import Backup, rate_bytes
from moodle_wizard.tui import preview
from moodle_wizard.tui.clock import ago, duration, size
from moodle_wizard.tui.draft import (
    field_error,
    host_list_error,
    migration_field_error,
    parse_host_list,
)
from moodle_wizard.tui.screens.base import FlowScreen
from moodle_wizard.tui.widgets.form_field import FormField
from moodle_wizard.tui.widgets.plain_text import PlainText
from moodle_wizard.tui.widgets.tick_box import Choice

# Rough rates for the estimate (bytes/s), and where they come from. Shown with the estimate:
# it is a range to plan a window with, not a promise.
RATES = {
    SeedMethod.PHYSICAL: (100e6, 220e6, "measured in the lab: 1.26 GB in 5.8 s over SSH "
                          "(aes128-gcm) on 2 cores; disks and network set yours"),
    SeedMethod.LOGICAL: (5e6, 25e6, "dump and single-threaded import of SQL; indexes are "
                         "rebuilt on each replica"),
    # A mariadb-backup directory or xbstream file travels as the physical stream does.
    SeedMethod.EXISTING: (100e6, 220e6, "sent like the physical stream, from the backup's "
                          "host; an SQL dump imports at the logical rate"),
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
    SeedMethod.EXISTING: (
        "An existing backup (last night's mariadb-backup or dump)",
        "The replicas are seeded from a backup that already exists, on a backup host or on "
        "the source's own disk: the source is not read for the copy, only its binary logs for "
        "the catch-up. Discovery checks the backup and that the binary logs still reach back "
        "to its position. For a busy primary in term time."),
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


def estimate(method: SeedMethod, data_bytes: int, replicas: int,
             limit: int | None = None) -> tuple[str, str]:
    """The time range; with a stream limit (bytes a second), never faster than the data at
    that rate (one stream feeds every replica, so the limit does not multiply)."""
    lo_rate, hi_rate, basis = RATES[method]
    factor = 1 + EXTRA_REPLICA_FACTOR * max(0, replicas - 1)
    fastest = data_bytes / hi_rate * factor
    slowest = data_bytes / lo_rate * factor
    if limit:
        floor = data_bytes / limit
        fastest, slowest = max(fastest, floor), max(slowest, floor)
        basis += f"; at most {size(limit)}/s (the stream limit)"
    return f"{duration(fastest)} to {duration(slowest)}", basis


def limit_error(text: str) -> str | None:
    """The inventory's own message for a stream limit ("100MB/s"); blank is no limit."""
    return migration_field_error("stream_limit", text) if text else None


def backup_path_error(text: str) -> str | None:
    if not text:
        return "required: where the backup lies on that host"
    return field_error(Backup, {"host": "h"}, "path", text)


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
            "never through this machine, as a detached job that survives a dropped session. "
            "**Existing** seeds from a backup already taken (give its host, as a host of the "
            "inventory or name=address, and its path): the source is not read for the copy."
            "\n\nThe **stream limit** (e.g. 50MB/s) holds the seed stream to that rate, so a "
            "live primary keeps serving Moodle while it is read; blank: as fast as the hosts "
            "go. The dashboard shows the rate against the limit."
            "\n\nThe **order** of the steps: **proxy-first** puts ProxySQL and the VIP in front "
            "of the source before its restart, so Moodle's requests wait through the restart "
            "instead of failing; **classic** seeds the replicas first. **Automatic** takes "
            "proxy-first when the source must restart."
            "\n\nUp and down choose, Enter or Space selects, Tab moves to the next choice. The "
            "estimate is a range to plan a maintenance window with; the dashboard shows the "
            "real rate.")

    def body(self) -> ComposeResult:
        draft = self.wizard.draft
        backup = draft.data.get("backup") or {}
        with VerticalScroll(id="backup-body"):
            with RadioSet(id="backup-method"):
                for method in SeedMethod:
                    yield Choice(WHY[method][0], id=f"m-{method.value}")
            with VerticalGroup(id="backup-existing"):
                yield FormField("backup host", str(backup.get("host") or ""),
                                check=self.host_error, id="backup-host",
                                hint="a host of the inventory (the source's name), or "
                                "name=address for a backup host")
                yield FormField("backup path", str(backup.get("path") or ""),
                                check=backup_path_error, id="backup-path",
                                hint="its directory, xbstream file or dump on that host")
            yield PlainText("", id="backup-why")
            yield FormField("stream limit", str(draft.migration.get("stream_limit") or ""),
                            check=limit_error, id="stream-limit", placeholder="e.g. 50MB/s",
                            hint="blank: as fast as the hosts go; a limit spares a live "
                            "primary (kB/s, MB/s or GB/s)")
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
        for field in self.query(FormField):
            field.set_disabled(self.locked)
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

    # -- the existing backup's host --

    def host_error(self, text: str) -> str | None:
        if not text:
            return "required: the host that holds the backup"
        if self._known_host(text):
            return None
        entries = parse_host_list(text)
        if len(entries) != 1 or "=" not in text:
            return (f"{text!r} is not a host of the inventory: give the source's name, or "
                    "name=address for a backup host")
        name, address, _ = entries[0]
        return host_list_error(f"{name}={address}", Role.BACKUP)

    def _known_host(self, name: str) -> bool:
        """A host the inventory has that may hold the backup: the source, or a backup host."""
        plays = {name for name, _, _ in self.wizard.draft.role_hosts(Role.SOURCE)}
        plays |= {name for name, _, _ in self.wizard.draft.role_hosts(Role.BACKUP)}
        return name in plays

    def store_existing(self) -> None:
        """The [backup] section and its host, from the fields (only while "existing" is the
        choice: the inventory refuses a [backup] section with the other methods)."""
        draft = self.wizard.draft
        if self.method() != SeedMethod.EXISTING:
            draft.data.pop("backup", None)
            draft.set_role_hosts(Role.BACKUP, [])
            return
        host_field = self.query_one("#backup-host", FormField)
        path_field = self.query_one("#backup-path", FormField)
        host = "" if host_field.problem() else host_field.value
        backup_hosts = {name for name, _, _ in draft.role_hosts(Role.BACKUP)}
        if host and not self._known_host(host):  # name=address: a host of its own
            name, address, port = parse_host_list(host)[0]
            draft.set_role_hosts(Role.BACKUP, [(name, address, port)])
            host = name
        elif host not in backup_hosts:  # the source's own disk (or nothing yet)
            draft.set_role_hosts(Role.BACKUP, [])
        draft.set("backup", "host", host or None)
        draft.set("backup", "path", None if path_field.problem() else path_field.value)

    # -- changes --

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        method = self.method()
        if not self.locked:
            self.wizard.draft.set("migration", "backup_method", method.value)
            self.wizard.draft.set("migration", "order", self.order())
            self.store_existing()
        self.show(method)

    def on_form_field_changed(self, event: FormField.Changed) -> None:
        event.stop()
        if self.locked:
            return
        field = event.field
        if field.id == "stream-limit" and not field.problem():
            self.wizard.draft.set("migration", "stream_limit", field.value or None)
        elif field.id in ("backup-host", "backup-path"):
            self.store_existing()
        self.show(self.method())

    def leave(self, validate: bool = True) -> bool:
        if self.locked or not validate:
            return True
        fields = [self.query_one("#stream-limit", FormField)]
        if self.method() == SeedMethod.EXISTING:
            fields = [self.query_one("#backup-host", FormField),
                      self.query_one("#backup-path", FormField), *fields]
        return self.fields_ok(fields)

    # -- what it shows --

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

    def limit(self) -> int | None:
        value = self.query_one("#stream-limit", FormField).value
        return rate_bytes(value) if value and not limit_error(value) else None

    def show(self, method: SeedMethod) -> None:
        title, why = WHY[method]
        self.query_one("#backup-existing").display = method == SeedMethod.EXISTING
        self.query_one("#backup-why", Static).update(Text.assemble((title + "\n", "bold"), why))
        self.show_order()
        state = self.wizard.state
        facts = state.steps.discover.facts if state else None
        src = facts.source if facts else None
        replicas = len(self.wizard.draft.role_hosts(Role.REPLICA))
        estimate_widget = self.query_one("#backup-estimate", Static)
        if method == SeedMethod.EXISTING:
            found = facts.backup if facts else None
            if found is None:
                estimate_widget.update("The backup: its kind, size, age and position are "
                                       "known after discovery.")
                return
            data = found.size_bytes
            now = self.wizard.clock.now()
            amount = (f"{size(data)} ({found.kind.value}, taken {ago(found.taken_at, now)}, "
                      f"at GTID {found.gtid_position})")
        elif src is None:
            estimate_widget.update("Size and time: known after discovery.")
            return
        else:
            data = src.data_bytes
            amount = (f"{size(data)} (the datadir)" if method == SeedMethod.PHYSICAL else
                      f"up to {size(data)} of SQL (no index pages; often less)")
        span, basis = estimate(method, data, replicas, self.limit())
        reads = ("one read of the backup" if method == SeedMethod.EXISTING
                 else "one read of the source")
        estimate_widget.update(Text.assemble(
            ("Expected size: ", "bold"), amount, "\n",
            ("Expected time: ", "bold"), f"{span} for {replicas} replica(s) from {reads}\n",
            (f"({basis})", "dim")))
