"""Screen 3: what discovery found on the source, the app host and the replica hosts, with
the warnings the steps' read-only checks raise and what each means."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from moodle_wizard.core.state import MigrationState, StepName, StepStatus
from moodle_wizard.tui import preview
from moodle_wizard.tui.clock import size
from moodle_wizard.tui.draft import discovery_key
from moodle_wizard.tui.operations import Discover
from moodle_wizard.tui.screens.base import FlowScreen
from moodle_wizard.tui.widgets.fact_list import Fact, FactList
from moodle_wizard.tui.widgets.finding_list import FindingList
from moodle_wizard.tui.widgets.plain_text import PlainText


def source_facts(state: MigrationState, restart: bool | None) -> list[Fact]:
    src = state.steps.discover.facts.source
    if src is None:
        return []
    gtid_text = src.gtid.binlog_pos or src.gtid.executed or "none yet"
    non_innodb = src.non_innodb
    roomy = src.free_bytes > src.data_bytes
    row = src.binlog_format == "ROW"
    out: list[Fact] = [
        ("server", f"{src.version_string} on {src.hostname}",
         "replicas get the same major version", "ok"),
        ("data", f"{size(src.data_bytes)} in {src.tables} tables", f"datadir {src.datadir}",
         "ok"),
        ("free disk", size(src.free_bytes),
         "" if roomy else "less than the data: a physical backup stages nothing here, but "
         "keep room for binary logs", "ok" if roomy else "warn"),
        ("server_id", str(src.server_id),
         "unique ids are set for every server" if src.server_id in (0, 1) else "", "note"),
        ("binary log", "ON" if src.log_bin else "OFF",
         "" if src.log_bin else "prepare-source turns it on", "ok" if src.log_bin else "note"),
        ("binlog_format", src.binlog_format,
         "" if row else "set to ROW (replication needs it)", "ok" if row else "note"),
        ("GTID position", gtid_text, "replicas start from the backup's", "ok"),
        ("non-InnoDB", ", ".join(non_innodb) if non_innodb else "none",
         "cannot be copied consistently while Moodle writes" if non_innodb else "",
         "bad" if non_innodb else "ok"),
    ]
    if restart is not None:
        out.append(("restart", "needed, once" if restart else "not needed",
                    "Moodle's reads and writes fail while it restarts (2.3 s in the lab); "
                    "you are asked first" if restart else "",
                    "warn" if restart else "ok"))
    return out


def moodle_facts(state: MigrationState) -> list[Fact]:
    moodle = state.steps.discover.facts.moodle
    if moodle is None:
        return []
    connect = moodle.connect
    ok = connect is not None and connect.ok
    failed = (connect.error if connect is not None else None) or ""
    return [
        ("config.php", f"{moodle.dbtype} at {moodle.dbhost}, database {moodle.dbname}, user "
         f"{moodle.dbuser}, prefix {moodle.prefix}", "", "ok"),
        ("Moodle login", "works" if ok else "FAILS",
         "tried with PHP mysqli as Moodle would" if ok else failed, "ok" if ok else "bad"),
        ("PHP", f"{moodle.php_version}, mysqli {'yes' if moodle.mysqli else 'NO'}",
         "", "ok" if moodle.mysqli else "bad"),
        ("config.php", "writable" if moodle.writable else "read-only for this user",
         "cut-over edits dbhost only, after a backup" if moodle.writable else
         "cut-over needs to write it", "ok" if moodle.writable else "warn"),
    ]


def replica_facts(state: MigrationState) -> list[Fact]:
    out: list[Fact] = []
    for name, f in state.steps.discover.facts.replicas.items():
        entries = f.datadir_entries
        out.append((name, ", ".join(f"{k} {v}" for k, v in f.packages.items()) or "no server "
                    "installed", "installed if missing", "ok"))
        out.append(("", f"{f.datadir}: " + (", ".join(entries[:4]) if entries else "empty"),
                    "NOT empty: a fresh install's system tables are moved aside (kept); "
                    "anything else is never overwritten unless allowed" if entries else "",
                    "warn" if entries else "ok"))
        out.append(("", f"{size(f.free_bytes)} free; server "
                    f"{'RUNNING' if f.server_running else 'stopped'}", "",
                    "warn" if f.server_running else "ok"))
    return out


class DiscoveryScreen(FlowScreen):
    TOPIC = "discovery"
    NUMBER = 3
    LABEL = "Discovery"
    NEXT = "backup"
    BACK = "hosts"
    HELP = ("Discovery connects to every host and only reads: the source server's version, "
            "size, server_id, binary log and GTID state, tables that are not InnoDB, free "
            "disk; Moodle's config.php (evaluated by PHP itself) and whether Moodle's own "
            "login works; what is on each replica host.\n\n"
            "Below the facts are the **findings** of every later step's read-only checks: "
            "errors must be fixed before anything runs, questions are asked when their step "
            "runs, warnings are for your information. Press **r** to discover again after "
            "fixing something.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rediscover", "Discover again"),
        *FlowScreen.BINDINGS,
    ]

    def body(self) -> ComposeResult:
        with VerticalScroll(id="discovery-body"):
            yield PlainText("", id="discovery-status")
            yield PlainText("Source database", classes="section-title")
            yield FactList(id="source-facts")
            yield PlainText("Moodle", classes="section-title")
            yield FactList(id="moodle-facts")
            yield PlainText("Replica hosts", classes="section-title")
            yield FactList(id="replica-facts")
            yield PlainText("Findings of the read-only checks", classes="section-title")
            yield FindingList(id="findings")

    def on_mount(self) -> None:
        super().on_mount()
        self.wizard.changed.subscribe(self, self._changed)

    def on_screen_resume(self) -> None:
        app = self.wizard
        stale = app.discovered_for != discovery_key(app.draft) or app.state is None or \
            app.state.step(StepName.DISCOVER).status != StepStatus.DONE
        if stale and not app.started and not app.runner.busy and "discover" not in app.errors:
            app.submit(Discover())
        self.show()

    def _changed(self, topic: str) -> None:
        if topic in ("discover", "events", "state"):
            self.show()

    def show(self) -> None:
        app = self.wizard
        status = self.query_one("#discovery-status", Static)
        error = app.errors.get("discover")
        running = app.runner.running(Discover)
        if running:
            row = app.run_model.rows.get(StepName.DISCOVER.value)
            status.update(f"… discovering (read-only): {row.last if row else ''}")
        elif error:
            status.update(f"✗ {error}\nFix it (esc goes back to the hosts) and press r.")
        elif app.state is not None and app.discovery is None and app.started:
            status.update("The migration has started: these are the facts it was planned on.")
        else:
            status.update("✓ discovered; nothing was changed anywhere.")
        status.set_class(bool(error), "-error")
        state = app.discovery.state if app.discovery else app.state
        if state is None:
            return
        inventory = None
        try:
            inventory = app.draft.validate()
        except Exception:
            inventory = None
        restart = preview.source_restart_needed(inventory, state) if inventory else None
        self.query_one("#source-facts", FactList).show(source_facts(state, restart))
        self.query_one("#moodle-facts", FactList).show(moodle_facts(state))
        self.query_one("#replica-facts", FactList).show(replica_facts(state))
        findings = self.query_one("#findings", FindingList)
        if app.discovery is not None:
            findings.show(app.discovery.findings)
        elif not running:
            findings.update("(saved facts: the review screen runs every check again)")

    def action_rediscover(self) -> None:
        if self.locked:
            self.notify("the migration has started; discovery is not run again",
                        severity="warning")
            return
        self.wizard.errors.pop("discover", None)
        self.wizard.submit(Discover())
        self.show()

    def leave(self, validate: bool = True) -> bool:
        if not validate or self.locked:
            return True
        app = self.wizard
        if app.runner.busy:
            self.notify("discovery is still running", severity="warning")
            return False
        done = app.state is not None and app.state.step(
            StepName.DISCOVER).status == StepStatus.DONE
        if not done or "discover" in app.errors or app.discovered_for != discovery_key(app.draft):
            self.notify("discovery has not succeeded yet; fix what it says and press r",
                        severity="error")
            return False
        return True
