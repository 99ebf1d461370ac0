"""The operations the screens start, run in the engine thread (see runner.py).

Each one opens a session the one way the headless commands do (`open_session`) and calls the
engine's public API; none of them decides anything about the migration itself. They return
plain values (copies of the state, messages) so that no engine object is ever shared with the
UI thread.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from moodle_wizard.core import events as ev
from moodle_wizard.core.context import Context
from moodle_wizard.core.engine import Engine
from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.health import HealthItem as HealthItem  # the screens name it ops.HealthItem
from moodle_wizard.core.health import check_health
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.journal import Finding, findings, step_findings
from moodle_wizard.core.moodle_config import read_moodle_config, register_config_secrets
from moodle_wizard.core.remote.errors import ChangedHostKey, RemoteError
from moodle_wizard.core.runbook import runbook_markdown
from moodle_wizard.core.secrets import MASK
from moodle_wizard.core.session import open_session
from moodle_wizard.core.state import MigrationState, StepName
from moodle_wizard.core.steps.order import choose_order
from moodle_wizard.tui.results import (  # what they report, light to import (results.py)
    ConnectionReport,
    DiscoveryResult,
    HostCheck,
    MoodleConfig,
    ReviewResult,
    RunResult,
    Settings,
    StateSnapshot,
)
from moodle_wizard.tui.runner import SessionIO

__all__ = ["ConnectionReport", "DiscoveryResult", "HealthItem", "HostCheck", "MoodleConfig",
           "ReviewResult", "RunResult", "Settings", "StateSnapshot", "check_connections",
           "check_step", "discover", "health", "review", "rollback", "run"]

# -- sessions ------------------------------------------------------------------------------------


class _Emitter:
    """Passes engine events on, and a copy of the journal at every step boundary."""

    def __init__(self, io: SessionIO) -> None:
        self.io = io
        self.ctx: Context | None = None

    def __call__(self, event: ev.Event) -> None:
        self.io.emit(event)
        if self.ctx is not None and isinstance(event, ev.StepStarted | ev.StepDone |
                                               ev.StepFailed):
            self.io.post(StateSnapshot(self.ctx.state.model_copy(deep=True)))


def _session(io: SessionIO, settings: Settings, inventory: Inventory, state: MigrationState,
             path: Path | None, emitter: _Emitter | None = None) -> Any:
    return open_session(inventory, state, path, emit=emitter or io.emit, confirm=io.confirm,
                        ask_host_key=io.ask_host_key, prompt=io.prompt,
                        known_hosts=settings.known_hosts)


# -- operations ------------------------------------------------------------------------------


async def check_connections(io: SessionIO, settings: Settings, inventory: Inventory,
                           state: MigrationState) -> ConnectionReport:
    """SSH to every host (the host-key question included), then read config.php."""
    async with _session(io, settings, inventory, state, None) as ctx:

        async def check(name: str) -> HostCheck:
            address = inventory.hosts[name].address
            try:
                await ctx.host(name)
            except ChangedHostKey as exc:
                result = HostCheck(name, address, False, str(exc), changed_key=True)
            except RemoteError as exc:
                result = HostCheck(name, address, False, str(exc))
            else:
                result = HostCheck(name, address, True, "connected, host key verified")
            io.post(result)
            return result

        checks = list(await asyncio.gather(*(check(n) for n in inventory.hosts)))
        moodle = None
        app = inventory.apps[0]
        if next(c for c in checks if c.name == app).ok:
            moodle = await _moodle_config(ctx, app, inventory.migration.moodle_config)
            io.post(moodle)
        return ConnectionReport(checks, moodle)


async def _moodle_config(ctx: Context, app: str, path: str) -> MoodleConfig:
    try:
        cfg = await read_moodle_config(await ctx.host(app), path)
    except OperatorError as exc:
        return MoodleConfig({}, ctx.secrets.mask(str(exc)))
    # Every password in it (the read-only replicas' too) is masked below.
    password = register_config_secrets(cfg, ctx.secrets, app)
    values = {k: _flat(v) for k, v in cfg.items() if k in
              ("dbtype", "dbhost", "dbname", "dbuser", "prefix", "dboptions", "wwwroot")}
    values["dbpass"] = MASK if password else "(empty)"
    connect = cfg.get("connect") or {}
    if isinstance(connect, dict) and not connect.get("ok"):
        values["login"] = f"fails: {connect.get('error', 'PHP has no mysqli')}"
    elif isinstance(connect, dict):
        values["login"] = "works (Moodle's own login, tried with PHP mysqli)"
    return MoodleConfig({k: ctx.secrets.mask(v).replace(password or "\0", MASK)
                         for k, v in values.items()})


def _flat(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


async def discover(io: SessionIO, settings: Settings, inventory: Inventory,
                   state: MigrationState, path: Path) -> DiscoveryResult:
    """Engine.run(until=discover): journaled, changes nothing on any host."""
    emitter = _Emitter(io)
    async with _session(io, settings, inventory, state, path, emitter) as ctx:
        emitter.ctx = ctx
        ctx.save()
        await Engine(ctx).run(until=StepName.DISCOVER)
        found = await findings(ctx)
        return DiscoveryResult(ctx.state.model_copy(deep=True), found)


async def review(io: SessionIO, settings: Settings, inventory: Inventory,
                 state: MigrationState) -> ReviewResult:
    """The runbook exactly as `moodle-wizard plan` makes it, and the preflight findings;
    a dry session (nothing saved, nothing changed)."""
    async with _session(io, settings, inventory, state.model_copy(deep=True), None) as ctx:
        journaled = ctx.state.order
        text = await runbook_markdown(ctx)  # decides the order on this copy when not journaled
        order, why = ((journaled, "journaled when the migration started") if journaled
                      else choose_order(ctx))
        found = await findings(ctx)
        return ReviewResult(text, found, order, why)


async def check_step(io: SessionIO, settings: Settings, inventory: Inventory,
                     state: MigrationState, name: StepName) -> list[Finding]:
    """One step's read-only preflight, in a dry session (the VIP screen's "is it free?")."""
    async with _session(io, settings, inventory, state.model_copy(deep=True), None) as ctx:
        return await step_findings(ctx, name)


async def run(io: SessionIO, settings: Settings, inventory: Inventory, state: MigrationState,
              path: Path, until: StepName | None = None) -> RunResult:
    """Engine.run: every preflight first, then the steps; resumes a journaled migration."""
    emitter = _Emitter(io)
    async with _session(io, settings, inventory, state, path, emitter) as ctx:
        emitter.ctx = ctx
        ctx.save()
        try:
            await Engine(ctx).run(until)
        finally:
            io.post(StateSnapshot(ctx.state.model_copy(deep=True)))
        return RunResult(ctx.state.model_copy(deep=True))


async def rollback(io: SessionIO, settings: Settings, inventory: Inventory,
                   state: MigrationState, path: Path, to: StepName | None,
                   force_config: bool = False) -> RunResult:
    emitter = _Emitter(io)
    async with _session(io, settings, inventory, state, path, emitter) as ctx:
        emitter.ctx = ctx
        ctx.force_config = force_config
        try:
            undone = await Engine(ctx).rollback(to)
        finally:
            io.post(StateSnapshot(ctx.state.model_copy(deep=True)))
        return RunResult(ctx.state.model_copy(deep=True), [str(n) for n in undone])


# -- health ----------------------------------------------------------------------------------


async def health(io: SessionIO, settings: Settings, inventory: Inventory,
                 state: MigrationState, path: Path | None) -> list[HealthItem]:
    """core/health.py's checks of the result, as `moodle-wizard health` prints them. The
    session is given the state path because the generated secrets (ProxySQL's admin
    password) are read from the migration's files; nothing here saves."""
    async with _session(io, settings, inventory, state.model_copy(deep=True), path) as ctx:
        return list((await check_health(ctx)).items)
