"""Shared setup for the wizard's Pilot and snapshot tests.

Every test gets its own state directory. Saved migrations are made from the fixtures: a real
discovery of the lab (`fixtures/discovered-state.json`), the lab's inventory and a real runbook
(`moodle-wizard plan`), so the screens show what the engine really records. Hosts that a test
must reach are SSH servers in this process (see sshd.py); anything else points at a closed
local port, so no test here ever touches the lab.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.clock import FixedClock

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    # Made now, as the wizard makes it (0700), whatever the umask: a test that writes a
    # journal after the app started must not be the one to create it group-writable.
    path.mkdir(mode=0o700)
    monkeypatch.setenv("MOODLE_WIZARD_STATE_DIR", str(path))
    # The secrets the steps' checks ask for, as an operator's environment would give them.
    monkeypatch.setenv("MOODLE_WIZARD_REPLICATION_PASSWORD", "repl-Pw-1234")
    monkeypatch.setenv("MOODLE_WIZARD_MONITOR_PASSWORD", "mon-Pw-1234")
    # The demo's lab inventory: absent unless a test puts one there.
    monkeypatch.setattr("moodle_wizard.tui.app.lab_inventory", lambda: tmp_path / "no-lab.toml")
    return path


def closed_port() -> int:
    """A local TCP port nothing listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lab_inventory_text(*, local: bool = False, secrets_file: str | None = None) -> str:
    """The lab's inventory; `local`: every host moved to 127.0.0.1 on closed ports, so the
    engine fails fast with 'connection refused' instead of reaching any lab host."""
    text = (FIXTURES / "lab-inventory.toml").read_text()
    text = re.sub(r'(?m)^file = ".*"$', f'file = "{secrets_file}"' if secrets_file else "",
                  text)
    if local:
        def move(match: re.Match[str]) -> str:
            return f'address = "127.0.0.1"\nrole = "{match.group(1)}"'
        text = re.sub(r'address = "10\.77\.0\.\d+"\nrole = "(\w+)"', move, text)
        taken: set[int] = set()

        def distinct_port(_: re.Match[str]) -> str:
            # Two hosts on one port would be "the same machine" to the inventory: the kernel
            # may hand out a port it has just given back.
            port = closed_port()
            while port in taken:
                port = closed_port()
            taken.add(port)
            return f"ssh_port = {port}"
        text = re.sub(r"ssh_port = 22", distinct_port, text)
    return text


def save_migration(state_dir: Path, *, statuses: dict[str, str] | None = None,
                   left: timedelta = timedelta(hours=2), clock: FixedClock | None = None,
                   local: bool = True, inventory: str | None = None,
                   facts: dict[str, dict[str, Any]] | None = None,
                   errors: dict[str, str] | None = None, order: str | None = None) -> Path:
    """A journaled migration 'mwlab' in the state directory; returns the state file."""
    clock = clock or FixedClock()
    state_dir.mkdir(parents=True, exist_ok=True)
    inv = state_dir / "mwlab.inventory.toml"
    inv.write_text(inventory if inventory is not None else lab_inventory_text(local=local))
    inv.chmod(0o600)
    state = json.loads((FIXTURES / "discovered-state.json").read_text())
    state["inventory_path"] = str(inv)
    when = (clock.now() - left).isoformat()
    state["created_at"] = state["updated_at"] = when
    for name, status in (statuses or {}).items():
        step = state["steps"][name]
        step["status"] = status
        if status != "pending":
            step["started_at"] = when
            step["finished_at"] = (clock.now() - left + timedelta(seconds=42)).isoformat() \
                if status in ("done", "rolled-back") else None
    for name, more in (facts or {}).items():
        state["steps"][name]["facts"].update(more)
    for name, error in (errors or {}).items():
        state["steps"][name]["last_error"] = error
    # A journal as this wizard writes it (v3): its order is decided when the run starts
    # (None until then; a v2 journal that had discovered is classic, as it ran).
    state["schema_version"], state["order"] = 3, order
    path = state_dir / "mwlab.json"
    path.write_text(json.dumps(state, indent=2))
    path.chmod(0o600)
    return path


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def make_app(clock: FixedClock) -> Callable[..., WizardApp]:
    def make(**kwargs: Any) -> WizardApp:
        kwargs.setdefault("clock", clock)
        return WizardApp(**kwargs)
    return make


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], *, timeout: float = 20,
                   what: str = "the condition") -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.02)


def screen_text(app: WizardApp) -> str:
    """Everything the current screen shows, as plain text (from Textual's own SVG export)."""
    from tests.tui.svgtext import svg_to_text

    return svg_to_text(app.export_screenshot())


@pytest.fixture
def lab_files(tmp_path: Path) -> Iterator[Path]:
    """A lab inventory on disk for the demo option (local, closed ports)."""
    path = tmp_path / "lab-inventory.toml"
    path.write_text(lab_inventory_text(local=True))
    yield path
