"""Screen 7: the virtual IP - address, interface, virtual_router_id, priorities - and the
VIP step's preflight, which says whether the address is free."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from moodle_wizard.core.inventory import InventoryError, Role
from moodle_wizard.core.state import StepName
from moodle_wizard.tui import preview
from moodle_wizard.tui.operations import CheckStep
from moodle_wizard.tui.screens.base import FlowScreen
from moodle_wizard.tui.screens.section import SectionScreen
from moodle_wizard.tui.widgets.finding_list import FindingList
from moodle_wizard.tui.widgets.plain_text import PlainText


class VipScreen(SectionScreen):
    TOPIC = "vip"
    NUMBER = 7
    LABEL = "Virtual IP"
    NEXT = "review"
    BACK = "proxysql"
    STEP = StepName.VIP
    SECTIONS: ClassVar[tuple[str, ...]] = ("vip", "keepalived")
    HELP = ("keepalived runs on both proxy hosts and keeps one **virtual IP** on a node whose "
            "ProxySQL answers. Both start as BACKUP with unicast peers; the **priorities** "
            "decide who takes the address first; the **virtual_router_id** must be unique on "
            "the network segment; a failed ProxySQL check releases the address.\n\nPress "
            "ctrl+t to run the VIP step's read-only checks: whether the address is already "
            "in use, whether the router id is taken.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "check", "Check VIP"),
        *FlowScreen.BINDINGS,
    ]

    def extra(self) -> ComposeResult:
        yield PlainText("Is the VIP free? (the step's preflight)", classes="section-title")
        yield FindingList(id="vip-findings")

    def on_mount(self) -> None:
        super().on_mount()
        self.wizard.changed.subscribe(self, self._changed)

    def _changed(self, topic: str) -> None:
        if topic == "check-vip":
            self.show()

    def summary(self) -> Text:
        d = self.wizard.draft
        proxies = d.role_hosts(Role.PROXY)
        address = self.setting("address", "vip", "ip")
        try:
            engine = preview.vip_settings(d.validate(), self.wizard.state) \
                if self.wizard.state is not None else {}
        except InventoryError:
            engine = {}
        t = Text()
        t.append("address: ", style="bold")
        t.append(str(address) if address else "set by the VIP step's settings")
        t.append("\ninterface: ", style="bold")
        t.append(str(self.setting("interface") or "the one that holds each proxy's address"))
        t.append("\nvirtual_router_id: ", style="bold")
        given = self.setting("virtual_router_id", "router_id")
        t.append(str(given) if given else
                 f"{engine['virtual_router_id']} (chosen by the wizard: unused on the segment, "
                 "checked again when the step runs)" if "virtual_router_id" in engine else
                 "chosen by the wizard, unused on the segment")
        t.append("\npriorities: ", style="bold")
        t.append(engine.get("priorities") or " > ".join(n for n, _, _ in proxies) or
                 "two proxy hosts needed")
        t.append("  (both start as BACKUP; the highest takes the VIP)", style="dim")
        t.append("\nhealth check: ", style="bold")
        t.append("ProxySQL answering on 6033; a failure releases the VIP")
        return t

    def show(self) -> None:
        super().show()
        box = self.query_one("#vip-findings", FindingList)
        result = self.wizard.checks.get(StepName.VIP.value)
        runner = self.wizard.runner
        busy = runner.busy and runner.request == CheckStep(StepName.VIP)
        if busy:
            box.update(Text("checking…", style="dim"))
        elif result is None:
            box.update(Text("not checked yet: ctrl+t", style="dim"))
        else:
            box.show(result, empty="The address is free and the checks found nothing.")

    def action_check(self) -> None:
        if not self.leave(validate=True):
            return
        try:
            self.wizard.submit(CheckStep(StepName.VIP))
        except InventoryError as exc:
            self.notify(str(exc), severity="error")
        self.show()
