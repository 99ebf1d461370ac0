"""After the migration: who is the primary, the cluster's health, and the operations on it
(switchover, failover, rejoin, drills, the migration's rollback), each started from the menu
or its key and shown as it runs: its progress lines, then its report or its one-line error.

Core computes (the topology, the refusals, the operations themselves, in the engine thread
through operate_dispatch.py); this screen only renders and asks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from moodle_wizard.core.finish import rollback_refusal
from moodle_wizard.core.inventory import InventoryError, load_inventory
from moodle_wizard.core.operate.record import Operation, OperationKind
from moodle_wizard.core.operate.topology import Topology, topology
from moodle_wizard.tui import operate_words as words
from moodle_wizard.tui.operations import (
    ClusterOperation,
    Drill,
    Failover,
    Health,
    Rejoin,
    Switchover,
    SyncUsers,
)
from moodle_wizard.tui.screens.base import WizardScreen
from moodle_wizard.tui.screens.choice import ChoiceModal
from moodle_wizard.tui.screens.confirm import ConfirmModal
from moodle_wizard.tui.widgets.health_table import HealthTable
from moodle_wizard.tui.widgets.operate_log import OperateLogView
from moodle_wizard.tui.widgets.plain_text import PlainText

REDRAW_S = 0.1
AUTO = "*"  # the failover target chosen by the wizard (the most advanced replica)

MENU: dict[str, str] = {
    "switchover": "s  Switchover…",
    "failover": "f  Failover…",
    "rejoin": "j  Rejoin…",
    "drill": "d  Drill…",
    "sync": "u  ProxySQL users…",
    "rollback": "b  Roll back…",
}


def continue_request(op: Operation) -> ClusterOperation:
    """Running the same operation again continues it from its journal (core/operate/api.py)."""
    if op.kind == OperationKind.SWITCHOVER:
        return Switchover(op.target)
    if op.kind == OperationKind.FAILOVER:
        return Failover(op.target)
    return Rejoin(op.target)


class OperateScreen(WizardScreen):
    TOPIC = "operate"
    LABEL = "Operate"
    HELP = ("After the migration. The top line says which server is the **primary** (takes "
            "Moodle's writes), which are **replicas** and which an earlier failover "
            "**fenced**. The table is the cluster's health, failures first; **h** checks it "
            "again.\n\n**s** switchover: a healthy replica becomes the primary, no write "
            "lost (planned maintenance). **f** failover: the primary is dead; the most "
            "advanced replica (or the one you pick) is promoted and the old primary fenced. "
            "**j** rejoins a fenced host as a replica. **d** runs a drill (the VIP, a "
            "switchover and back, losing the primary), measured. **u** gives Moodle's "
            "password, changed in config.php after the migration, to every ProxySQL node. "
            "**b** rolls the whole migration back. **c** continues an operation that "
            "stopped half-way.\n\n"
            "**m** shows the migration's steps (the dashboard; **o** comes back here); "
            "**l** the audit log.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "switchover", "Switchover", show=False),
        Binding("f", "failover", "Failover", show=False),
        Binding("j", "rejoin", "Rejoin", show=False),
        Binding("d", "drill", "Drill", show=False),
        Binding("u", "sync_users", "ProxySQL users", show=False),
        Binding("b", "rollback", "Rollback", show=False),
        Binding("c", "continue", "Continue", show=False),
        Binding("h", "health", "Health"),
        Binding("m", "dashboard", "Steps"),
        Binding("l", "app.open_log", "Log"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._pending: Timer | None = None
        self._menu: list[tuple[str, str, bool]] = []
        # (the state it was computed from, the topology, why there is none)
        self._topo: tuple[object, Topology | None, str | None] = (object(), None, None)

    def body(self) -> ComposeResult:
        yield PlainText("", id="operate-topology")
        yield PlainText("", id="operate-status")
        with Horizontal(id="operate-top"):
            yield OptionList(id="operate-actions")
            yield PlainText("", id="operate-about")
        yield HealthTable(id="operate-health")
        yield OperateLogView(id="operate-log")

    def on_mount(self) -> None:
        super().on_mount()
        self.wizard.changed.subscribe(self, self._changed)
        self.refresh_view()
        self.query_one("#operate-actions", OptionList).focus()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def _changed(self, topic: str) -> None:
        if topic == "events":
            if self._pending is None:
                self._pending = self.set_timer(REDRAW_S, self._redraw)
        else:
            self.refresh_view()

    def _redraw(self) -> None:
        self._pending = None
        self.refresh_view()

    # -- what core says --

    def topology(self) -> Topology | None:
        """The cluster as the journal has it (core/operate/topology.py), or None with the
        reason in the status line."""
        state = self.wizard.state
        if self._topo[0] is not state:
            try:
                # The migration's own inventory file, as the operations read it.
                topo = (topology(load_inventory(Path(state.inventory_path)), state.cluster)
                        if state else None)
                self._topo = (state, topo, None if state else "No migration is open.")
            except InventoryError as exc:
                self._topo = (state, None, str(exc))
        return self._topo[1]

    def in_flight(self) -> Operation | None:
        state = self.wizard.state
        return state.cluster.operation if state is not None else None

    # -- drawing --

    def refresh_view(self) -> None:
        app = self.wizard
        topo = self.topology()
        self.query_one("#operate-topology", PlainText).update(self._topology_text(topo))
        self.query_one("#operate-status", PlainText).update(self._status())
        self._fill_menu(topo)
        self._about()
        self.query_one(HealthTable).show(app.health, checking=app.runner.running(Health),
                                         error=app.errors.get("health"))
        log = self.query_one(OperateLogView)
        log.display = app.operate.run > 0
        log.follow(app.operate)
        self.refresh_bindings()

    def _topology_text(self, topo: Topology | None) -> Text:
        if topo is None:
            return Text(self._topo[2] or "", style="red")
        text = Text()
        for label, hosts, style in (("primary ", (topo.primary,), "bold green"),
                                    ("   replicas ", topo.replicas, "bold"),
                                    ("   fenced ", topo.fenced, "bold red")):
            text.append(label, style="dim")
            text.append(", ".join(hosts) or "none", style=style if hosts else "dim")
        return text

    def _status(self) -> Text:
        """One line each: what runs, how the last operation ended, what is in flight. A
        line too long ends in an ellipsis (styles: text-wrap): the log below has it whole."""
        app, log = self.wizard, self.wizard.operate
        text = Text()
        if app.runner.running(ClusterOperation):
            text.append(f"▶ {log.title}", style="bold cyan")
            if log.now:
                text.append(f": {log.now}")
        elif log.outcome is not None and log.failed:
            first = log.outcome.splitlines()[0] if log.outcome else ""
            # core's refusals name the operation themselves ("switchover to db2 refused")
            named = first.startswith(log.title.split(" ")[0])
            text.append(f"✗ {first}" if named else f"✗ {log.title}: {first}", style="red")
        elif log.outcome is not None:
            text.append(f"✓ {log.title}: {log.outcome}", style="green")
        op = self.in_flight()
        if op is not None and not app.runner.running(ClusterOperation):
            text.append("\n" if text else "")
            text.append(f"⚠ {words.operation(op)} stopped half-way ({op.status}): "
                        "c continues it", style="yellow")
        if not text:
            if app.state is not None and not app.all_done():
                text.append("The migration is not finished: m shows its steps.",
                            style="yellow")
            else:
                text.append("Every step of the migration is done. Choose an operation.",
                            style="dim")
        return text

    def _fill_menu(self, topo: Topology | None) -> None:
        op = self.in_flight()
        entries = [("continue", f"c  Continue the {op.kind}", True)] if op else []
        entries += [(key, label, topo is not None and (key != "rejoin" or bool(topo.fenced)))
                    for key, label in MENU.items()]
        if entries == self._menu:
            return
        self._menu = entries
        menu = self.query_one("#operate-actions", OptionList)
        menu.clear_options()
        menu.add_options([Option(label, id=key, disabled=not enabled)
                          for key, label, enabled in entries])
        menu.highlighted = 0

    def _about(self) -> None:
        topo = self.topology()
        menu = self.query_one("#operate-actions", OptionList)
        option = menu.highlighted_option
        text = ""
        if topo is not None and option is not None and option.id is not None:
            state = self.wizard.state
            refusal = rollback_refusal(state) if state is not None else None
            text = words.about(option.id, topo, self.in_flight(), refusal)
        self.query_one("#operate-about", PlainText).update(text)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._about()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.choose(event.option.id)

    # -- keys --

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "health":
            return None if self.wizard.runner.busy or self.wizard.state is None else True
        return True

    def _ready(self) -> Topology | None:
        """The topology when an operation may start now; None (and why) when not."""
        if self.wizard.busy_notice():
            return None
        topo = self.topology()
        if topo is None:
            self.notify(self._topo[2] or "no migration is open", severity="warning")
        return topo

    def _ask(self, question: str, then: Callable[[], object], *, risky: bool = False,
             yes: str = "Yes", title: str = "Operate") -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()
        self.app.push_screen(ConfirmModal(question, risky=risky, yes=yes, no="Cancel",
                                          title=title), callback=answered)

    def _pick(self, title: str, question: str, choices: list[tuple[str, str]],
              then: Callable[[str], object]) -> None:
        def picked(key: str | None) -> None:
            if key:
                then(key)
        self.app.push_screen(ChoiceModal(title, question, choices), callback=picked)

    def _start(self, request: ClusterOperation) -> None:
        self.wizard.submit(request)
        self.refresh_view()

    def action_switchover(self) -> None:
        topo = self._ready()
        if topo is None:
            return
        if not topo.replicas:
            self.notify("no serving replica to switch over to", severity="warning")
            return

        def chosen(target: str) -> None:
            self._ask(words.switchover_question(topo, target),
                      lambda: self._start(Switchover(target)), yes="Switch over",
                      title="Switchover")
        self._pick("Switchover", f"Which replica becomes the primary? {topo.primary} stays "
                   "up and becomes its replica.",
                   [(r, f"{r}  (replica of {topo.primary})") for r in topo.replicas], chosen)

    def action_failover(self) -> None:
        topo = self._ready()
        if topo is None:
            return
        if not topo.replicas:
            self.notify("no serving replica to promote", severity="warning")
            return

        def chosen(key: str) -> None:
            to = None if key == AUTO else key
            self._ask(words.failover_question(topo, to), lambda: self._start(Failover(to)),
                      risky=True, yes="Fail over", title=f"Failover: {topo.primary} is gone")
        self._pick("Failover", f"Which replica takes over from {topo.primary}?",
                   [(AUTO, "the most advanced replica (the wizard compares GTIDs)"),
                    *[(r, r) for r in topo.replicas]], chosen)

    def action_rejoin(self) -> None:
        topo = self._ready()
        if topo is None:
            return
        if not topo.fenced:
            self.notify("no host is fenced: rejoin is for an old primary a failover fenced",
                        severity="warning")
            return

        def chosen(host: str) -> None:
            self._ask(words.rejoin_question(topo, host), lambda: self._start(Rejoin(host)),
                      yes="Rejoin", title="Rejoin")
        if len(topo.fenced) == 1:
            chosen(topo.fenced[0])
        else:
            self._pick("Rejoin", "Which fenced host comes back as a replica?",
                       [(h, h) for h in topo.fenced], chosen)

    def action_drill(self) -> None:
        topo = self._ready()
        if topo is None:
            return

        def chosen(which: str) -> None:
            question, risky = words.drill_question(topo, which)
            self._ask(question, lambda: self._start(Drill(which)), risky=risky,
                      yes="Run the drill", title=f"Drill: {which}")
        self._pick("Drill", "Which drill? Each one really does it, on this cluster.",
                   words.DRILLS, chosen)

    def action_sync_users(self) -> None:
        inventory = self.wizard.saved_inventory() if self._ready() is not None else None
        if inventory is None:
            return
        self._ask(words.sync_question(inventory.proxies),
                  lambda: self._start(SyncUsers()), yes="Sync", title="ProxySQL users")

    def action_rollback(self) -> None:
        state = self.wizard.state
        if state is None or self.wizard.busy_notice():
            return
        refusal = rollback_refusal(state)
        if refusal:
            self.wizard.show_error("The migration cannot be rolled back now", refusal)
            return
        self.wizard.confirm_rollback(None)

    def action_continue(self) -> None:
        op = self.in_flight()
        if op is None:
            self.notify("no operation stopped half-way: nothing to continue")
            return
        if self._ready() is not None:
            self._start(continue_request(op))

    def action_health(self) -> None:
        self.wizard.submit(Health())
        self.refresh_view()

    def action_dashboard(self) -> None:
        self.wizard.goto("dashboard")

    def choose(self, key: str) -> None:
        actions: dict[str, Callable[[], None]] = {
            "switchover": self.action_switchover, "failover": self.action_failover,
            "rejoin": self.action_rejoin, "drill": self.action_drill,
            "sync": self.action_sync_users, "rollback": self.action_rollback,
            "continue": self.action_continue}
        if key in actions:
            actions[key]()
