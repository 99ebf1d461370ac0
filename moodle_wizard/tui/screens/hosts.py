"""Screen 2: the hosts and how to reach them; "Test connections" logs in to each (an unknown
host key opens a modal) and reads config.php on the app host for the DB credentials."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Checkbox

from moodle_wizard.core.inventory import Host, Role
from moodle_wizard.tui.draft import (
    format_host_list,
    host_field_error,
    host_list_error,
    migration_field_error,
    parse_host_list,
)
from moodle_wizard.tui.operations import Connect
from moodle_wizard.tui.screens.base import FlowScreen
from moodle_wizard.tui.widgets.fact_list import Fact, FactList
from moodle_wizard.tui.widgets.form_field import FormField
from moodle_wizard.tui.widgets.host_checks import HostChecks
from moodle_wizard.tui.widgets.plain_text import PlainText
from moodle_wizard.tui.widgets.tick_box import TickBox

KEY_FIELD = "ssh_key" if "ssh_key" in Host.model_fields else None


def _port_error(text: str) -> str | None:
    if not text.isdigit():
        return "a number from 1 to 65535"
    return host_field_error("ssh_port", int(text))


def _secrets_file_error(text: str) -> str | None:
    if text and not Path(text).expanduser().is_file():
        return f"{text} does not exist (the wizard reads the secrets from it; mode 0600)"
    return None


class HostsScreen(FlowScreen):
    TOPIC = "hosts"
    NUMBER = 2
    LABEL = "Hosts and credentials"
    NEXT = "discovery"
    BACK = "welcome"
    HELP = ("Name the hosts as `name=address` (several separated by commas). The **source** is "
            "the database server Moodle uses today; the **app host** serves Moodle (its "
            "config.php gives the database credentials); **replicas** are empty hosts that "
            "become copies; the two **proxies** carry ProxySQL and the virtual IP. The "
            "**jump host** is where the wizard runs, or a host to reach the others through.\n\n"
            "Every value is checked as you type, by the same rules the wizard applies to an "
            "inventory file. **Test connections** (ctrl+t) logs in to every host: an unknown "
            "host key shows its SHA256 fingerprint for you to accept or refuse; a changed "
            "key is refused.\n\n"
            "Passwords are never typed here: the replication and monitor passwords come "
            "from the inventory's secrets file or the environment (or are asked once, "
            "masked, and kept in memory); Moodle's own comes from config.php.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "test", "Test connections"),
        *FlowScreen.BINDINGS,
    ]

    def body(self) -> ComposeResult:
        with VerticalScroll(id="hosts-form"):
            yield FormField("Migration name", check=lambda v: migration_field_error("name", v),
                            hint="names the saved state and the inventory file", id="f-name")
            yield FormField("Source DB server", check=lambda v: host_list_error(
                v, Role.SOURCE, at_least=1, at_most=1), placeholder="db1=10.0.0.11",
                hint="the one database server Moodle uses today (name=address[:port])",
                id="f-source")
            yield FormField("Moodle app host(s)", check=lambda v: host_list_error(
                v, Role.APP, at_least=1), placeholder="app=10.0.0.10", id="f-app")
            yield FormField("config.php path", check=lambda v: migration_field_error(
                "moodle_config", v), id="f-config")
            yield FormField("Replica hosts", check=lambda v: host_list_error(
                v, Role.REPLICA, at_least=1), placeholder="db2=10.0.0.12, db3=10.0.0.13",
                hint="empty hosts; their datadir must be empty", id="f-replicas")
            yield FormField("Proxy hosts", check=lambda v: host_list_error(v, Role.PROXY),
                            placeholder="px1=10.0.0.21, px2=10.0.0.22",
                            hint="two: ProxySQL and keepalived (the VIP)", id="f-proxies")
            yield FormField("Jump host", check=lambda v: host_list_error(
                v, Role.JUMP, at_most=1), placeholder="jump=10.0.0.5 (optional)",
                id="f-jump")
            yield TickBox("reach other hosts through the jump host (ProxyJump)",
                           id="f-through", classes="form-check", compact=True)
            yield FormField("SSH user", check=lambda v: host_field_error("ssh_user", v),
                            id="f-user")
            yield FormField("SSH port", check=_port_error, id="f-port")
            if KEY_FIELD:
                yield FormField("SSH key file", hint="blank: ssh-agent and ~/.ssh/config",
                                id="f-key")
            else:
                yield PlainText("SSH keys: ssh-agent, ~/.ssh/config and ~/.ssh/id_* - as `ssh "
                             "ADDRESS` would use them.", classes="form-hint", id="f-key-note")
            yield FormField("DB admin user", check=lambda v: migration_field_error(
                "db_admin_user", v or None),
                hint="blank: the SSH user through the server's socket (unix_socket)",
                id="f-admin")
            yield FormField("Secrets file", check=_secrets_file_error,
                            hint="replication/monitor passwords (0600); or the environment",
                            id="f-secrets")
            yield PlainText("Connections", classes="section-title")
            yield HostChecks(id="host-checks")
            yield PlainText("Moodle's database, from config.php", classes="section-title")
            yield FactList(id="moodle-config")

    def on_mount(self) -> None:
        super().on_mount()
        self.fill()
        if not self.locked:
            self.field("name").input.focus()
        self.wizard.changed.subscribe(self, self._changed)
        self.show_connection()

    def on_screen_resume(self) -> None:
        self.show_connection()

    def _changed(self, topic: str) -> None:
        if topic == "connect":
            self.show_connection()

    def field(self, name: str) -> FormField:
        return self.query_one(f"#f-{name}", FormField)

    def fill(self) -> None:
        d = self.wizard.draft
        m = d.migration
        port = d.ssh_port()
        values = {
            "name": d.name,
            "source": format_host_list(d.role_hosts(Role.SOURCE), port),
            "app": format_host_list(d.role_hosts(Role.APP), port),
            "config": str(m.get("moodle_config", "/var/www/moodle/config.php")),
            "replicas": format_host_list(d.role_hosts(Role.REPLICA), port),
            "proxies": format_host_list(d.role_hosts(Role.PROXY), port),
            "jump": format_host_list(d.role_hosts(Role.JUMP), port),
            "user": d.ssh_user(),
            "port": str(port),
            "admin": str(m.get("db_admin_user") or ""),
            "secrets": str(d.data.get("secrets", {}).get("file") or ""),
        }
        for key, value in values.items():
            self.field(key).value = value
        if KEY_FIELD:
            first = next(iter(d.hosts.values()), {})
            self.field("key").value = str(first.get(KEY_FIELD) or "")
        self.query_one("#f-through", Checkbox).value = d.jump_through() is not None
        for f in self.query(FormField):
            f.set_disabled(self.locked)
        self.query_one("#f-through", Checkbox).disabled = self.locked

    def show_connection(self) -> None:
        checks = self.query_one(HostChecks)
        app = self.wizard
        if app.connection or app.runner.running(Connect):
            checks.expect(list(app.draft.hosts))
            for check in app.connection.values():
                checks.record(check)
        error = app.errors.get("connect")
        if error:
            checks.update(f"✗ {error}")
        facts: list[Fact] = []
        if app.moodle is not None:
            if app.moodle.error:
                facts.append(("config.php", "cannot be read", app.moodle.error, "bad"))
            for key, value in app.moodle.values.items():
                level = "bad" if key == "login" and value.startswith("fails") else "ok"
                facts.append((key, value, "", level))
        else:
            facts.append(("", "read from the app host by Test connections (ctrl+t)", "",
                          "note"))
        self.query_one("#moodle-config", FactList).show(facts)

    # -- keys --

    def action_test(self) -> None:
        if self.leave(validate=True):
            self.wizard.submit(Connect())
            self.show_connection()

    def leave(self, validate: bool = True) -> bool:
        if self.locked:
            return True
        fields = list(self.query(FormField))
        if validate:
            bad = [f for f in fields if f.show_problem()]
            if bad:
                bad[0].input.focus()
                self.notify(f"{bad[0].label}: {bad[0].problem()}", severity="error")
                return False
        d = self.wizard.draft
        d.migration["name"] = self.field("name").value
        explicit: set[str] = set()
        for role, key in ((Role.JUMP, "jump"), (Role.APP, "app"), (Role.SOURCE, "source"),
                          (Role.REPLICA, "replicas"), (Role.PROXY, "proxies")):
            entries = parse_host_list(self.field(key).value)
            explicit |= {name for name, _, port in entries if port is not None}
            d.set_role_hosts(role, entries)
        d.set("migration", "moodle_config", self.field("config").value)
        d.set("migration", "db_admin_user", self.field("admin").value or None)
        d.set("secrets", "file", self.field("secrets").value or None)
        port = self.field("port").value
        jump = parse_host_list(self.field("jump").value)
        through = self.query_one("#f-through", Checkbox).value and jump
        d.set_ssh(self.field("user").value or None, int(port) if port.isdigit() else None,
                  jump[0][0] if through else None, explicit)
        if KEY_FIELD:
            key = self.field("key").value
            for host in d.hosts.values():
                if key:
                    host[KEY_FIELD] = key
                else:
                    host.pop(KEY_FIELD, None)
        if validate:
            problem = d.error()
            if problem:
                self.notify(problem, title="inventory", severity="error", timeout=10)
                return False
        return True
