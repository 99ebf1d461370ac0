"""Screen 5: the replicas - hosts, server_ids, what will be installed, and the datadir that
would be replaced - and the replicas step's plan, as the step itself makes it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Static

from moodle_wizard.core.facts import DiscoverFacts
from moodle_wizard.core.inventory import InventoryError, Role
from moodle_wizard.core.state import StepName
from moodle_wizard.tui import preview
from moodle_wizard.tui.clock import size
from moodle_wizard.tui.draft import host_field_error
from moodle_wizard.tui.screens.base import FlowScreen
from moodle_wizard.tui.widgets.form_field import FormField
from moodle_wizard.tui.widgets.plain_text import PlainText
from moodle_wizard.tui.widgets.tick_box import TickBox

# The replicas step keeps this much room over the source's data (its preflight checks it).
SPACE_MARGIN = 1.15


def _server_id_error(text: str) -> str | None:
    if not text:
        return None
    if not text.isdigit():
        return "a number (1 to 4294967295), or blank for automatic"
    return host_field_error("server_id", int(text), Role.REPLICA)


class ReplicasScreen(FlowScreen):
    TOPIC = "replicas"
    NUMBER = 5
    LABEL = "Replicas"
    NEXT = "proxysql"
    BACK = "backup"
    HELP = ("Each replica host gets the source's server flavor and major version (installed "
            "if missing), the seed, its own **server_id**, read_only, and GTID replication "
            "from the source.\n\nLeave server_id blank to let the wizard choose (shown as "
            "'auto'); two servers with one server_id break replication, so duplicates are "
            "refused as you type.\n\nA datadir that is not empty is never overwritten. Allow "
            "'move aside' to have it renamed (kept, not deleted) before the seed.")

    def body(self) -> ComposeResult:
        with VerticalScroll(id="replicas-body"):
            for name, address, _ in self.wizard.draft.role_hosts(Role.REPLICA):
                yield PlainText(f"{name}  {address}", classes="section-title")
                yield FormField("server_id", str(self.wizard.draft.hosts[name].get(
                    "server_id") or ""), check=_server_id_error, id=f"sid-{name}",
                    name=name)
                yield PlainText("", id=f"rfacts-{name}", classes="replica-facts")
            yield TickBox("move a non-empty datadir aside (renamed, not deleted)",
                           bool(self.wizard.draft.migration.get("replace_replica_datadir")),
                           id="replace-datadir", classes="form-check", compact=True)
            yield PlainText("What the replicas step will do", classes="section-title")
            yield PlainText("", id="replicas-plan")

    def on_mount(self) -> None:
        super().on_mount()
        for f in self.query(FormField):
            f.set_disabled(self.locked)
        self.query_one("#replace-datadir", Checkbox).disabled = self.locked

    def on_screen_resume(self) -> None:
        self.show()

    def on_form_field_changed(self, event: FormField.Changed) -> None:
        event.stop()
        if self.locked or not event.field.name:
            return
        value = event.field.value
        host = self.wizard.draft.hosts.get(event.field.name)
        if host is not None and not event.field.problem():
            if value:
                host["server_id"] = int(value)
            else:
                host.pop("server_id", None)
        self.show()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        if not self.locked:
            self.wizard.draft.set("migration", "replace_replica_datadir", event.value or None)
        self.show()

    def show(self) -> None:
        app = self.wizard
        state = app.state
        try:
            inventory = app.draft.validate()
        except InventoryError as exc:
            self.query_one("#replicas-plan", Static).update(Text(f"✗ {exc}", style="red"))
            return
        discovered = state.steps.discover.facts if state else DiscoverFacts()
        data = discovered.source.data_bytes if discovered.source else 0
        found = discovered.replicas
        ids = preview.server_ids(inventory, state) if state else {}
        need = int(data * SPACE_MARGIN)
        for name in inventory.replicas:
            given = inventory.hosts[name].server_id
            field = self.query_one(f"#sid-{name}", FormField)
            if given is None and name in ids:
                field.set_hint(f"blank: automatic ({ids[name]})")
            text = Text()
            f = found.get(name)
            if f is None:
                text.append("known after discovery", style="dim")
            else:
                pkgs = f.packages
                text.append("server: ", style="bold")
                text.append(", ".join(f"{k} {v}" for k, v in pkgs.items()) + " installed"
                            if pkgs else "none: installed by the step")
                text.append("\ndatadir: ", style="bold")
                entries = f.datadir_entries
                if entries:
                    allowed = bool(inventory.migration.replace_replica_datadir)
                    text.append(f"{f.datadir} holds {', '.join(entries[:4])}; ",
                                style="yellow")
                    text.append("it will be moved aside to "
                                f"{f.datadir}.moodle-wizard-<migration>" if allowed else
                                "the step refuses to replace it unless 'move aside' is on",
                                style="yellow")
                else:
                    text.append(f"{f.datadir} is empty; the seed fills it")
                free = f.free_bytes
                text.append("\ndisk: ", style="bold")
                text.append(f"{size(free)} free, needs ~{size(need)}",
                            style="" if free >= need else "bold red")
            self.query_one(f"#rfacts-{name}", Static).update(text)
        plan = self.query_one("#replicas-plan", Static)
        if state is None:
            plan.update(Text("known after discovery", style="dim"))
            return
        step = preview.step_plan(inventory, state, StepName.REPLICAS)
        if step.unavailable:
            plan.update(Text(step.unavailable, style="dim"))
            return
        plan.update("\n".join(f"• {a.title}" for a in step.actions))

    def leave(self, validate: bool = True) -> bool:
        if self.locked or not validate:
            return True
        return self.fields_ok(self.query(FormField))
