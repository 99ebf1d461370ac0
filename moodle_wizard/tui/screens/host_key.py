"""An SSH host key the wizard has never seen: show its SHA256 fingerprint; accept or refuse.
(A key that CHANGED is never a question: see changed_key.py.)"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from moodle_wizard.tui.screens.modals import YesNoModal
from moodle_wizard.tui.widgets.plain_text import PlainText


class HostKeyModal(YesNoModal):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "answer(True)", "Accept"),
        Binding("r,escape", "answer(False)", "Refuse"),
    ]
    YES: ClassVar[tuple[str, str]] = ("accept", "a")
    NO: ClassVar[tuple[str, str]] = ("refuse", "r")

    def __init__(self, host: str, address: str, fingerprint: str) -> None:
        super().__init__(title="Unknown SSH host key", dialog_id="host-key-dialog",
                         yes="Accept", no="Refuse", yes_variant="warning", start_on_no=True)
        self.host, self.address, self.fingerprint = host, address, fingerprint

    def body(self) -> ComposeResult:
        where = f"{self.host} ({self.address})" if self.address else self.host
        yield PlainText(f"{where} presents a host key this machine has never seen:",
                        classes="dialog-text")
        yield PlainText(self.fingerprint, id="fingerprint", classes="fingerprint")
        yield PlainText(
            "Accept it only if it matches what the host itself says: on the host, run\n"
            "  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\n"
            "Accepted keys are added to known_hosts; a refused host is not connected to.",
            classes="dialog-text dim")
