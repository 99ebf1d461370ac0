"""An SSH host key the wizard has never seen: show its SHA256 fingerprint; accept or refuse.
(A key that CHANGED is never a question: see changed_key.py.)"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer

from moodle_wizard.tui.widgets.plain_text import PlainText


class HostKeyModal(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "answer(True)", "Accept"),
        Binding("r,escape", "answer(False)", "Refuse"),
    ]

    def __init__(self, host: str, address: str, fingerprint: str) -> None:
        super().__init__(classes="modal")
        self.host, self.address, self.fingerprint = host, address, fingerprint

    def compose(self) -> ComposeResult:
        where = f"{self.host} ({self.address})" if self.address else self.host
        with Vertical(classes="dialog", id="host-key-dialog") as dialog:
            dialog.border_title = "Unknown SSH host key"
            yield PlainText(f"{where} presents a host key this machine has never seen:",
                         classes="dialog-text")
            yield PlainText(self.fingerprint, id="fingerprint", classes="fingerprint")
            yield PlainText(
                "Accept it only if it matches what the host itself says: on the host, run\n"
                "  ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\n"
                "Accepted keys are added to known_hosts; a refused host is not connected to.",
                classes="dialog-text dim")
            with Horizontal(classes="buttons"):
                yield Button("Accept (a)", id="accept", variant="warning", compact=True)
                yield Button("Refuse (r)", id="refuse", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#refuse", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "accept")

    def action_answer(self, accept: bool) -> None:
        self.dismiss(accept)
