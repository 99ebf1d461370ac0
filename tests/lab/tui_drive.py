"""Driving the wizard's TUI through the lab's migration with Pilot: shared by the TUI's lab
tests and the TUI benchmark (`bench.tui_stream`). No pytest here: the benchmark measures the
resident size of a process that imports this, and pytest alone is some 9 MB of it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.screens.confirm import ConfirmModal
from moodle_wizard.tui.screens.dashboard import DashboardScreen
from moodle_wizard.tui.screens.hosts import HostsScreen
from moodle_wizard.tui.screens.review import ReviewScreen


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], *, timeout: float,
                   what: str, answer: dict[type, str] | None = None) -> None:
    """Run the app until `condition()`; meanwhile answer the modals named in `answer`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; screen "
                                 f"{pilot.app.screen!r}")
        for kind, key in (answer or {}).items():
            if isinstance(pilot.app.screen, kind):
                await pilot.press(key)
        await pilot.pause(0.05)


async def start_demo(app: WizardApp, pilot: Pilot[Any]) -> HostsScreen:
    await pilot.pause()
    await pilot.press("d")
    await pilot.pause()
    assert isinstance(app.screen, HostsScreen)
    assert app.screen.field("source").value == "db1=10.77.0.11"
    return app.screen


async def start_migration(app: WizardApp, pilot: Pilot[Any]) -> None:
    """The demo's inventory through every screen, then start: returns on the dashboard."""
    await start_demo(app, pilot)
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: app.discovery is not None or "discover" in app.errors,
                   timeout=300, what="discovery")
    assert app.discovery is not None, app.errors
    assert not [f for f in app.discovery.findings if f.level == "error"]
    for _ in range(4):  # backup, replicas, proxysql, vip
        await pilot.press("ctrl+n")
        await pilot.pause()
    await pilot.press("ctrl+t")  # the VIP step's preflight: is the address free?
    await wait_for(pilot, lambda: "vip" in app.checks, timeout=60, what="VIP check")
    assert not [f for f in app.checks["vip"] if f.level == "error"], app.checks["vip"]
    await pilot.press("ctrl+n")
    assert isinstance(app.screen, ReviewScreen)
    await wait_for(pilot, lambda: app.review is not None, timeout=120, what="runbook")
    assert app.review is not None and "# Runbook: migration mwlab" in app.review.runbook
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), timeout=10,
                   what="the start question")
    await pilot.press("y")
    await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), timeout=10,
                   what="the dashboard")
