"""The operations the screens start, run in the engine thread (see runner.py).

Each one opens a session the one way the headless commands do (`open_session`) and calls the
engine's public API; none of them decides anything about the migration itself. They return
plain values (copies of the state, messages) so that no engine object is ever shared with the
UI thread.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moodle_wizard.core import events as ev
from moodle_wizard.core.context import Context
from moodle_wizard.core.engine import EXPECTED, Engine
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.moodle_config import read_moodle_config, register_config_secrets
from moodle_wizard.core.remote.ssh import ChangedHostKey, RemoteError
from moodle_wizard.core.runbook import runbook_markdown
from moodle_wizard.core.secrets import MASK
from moodle_wizard.core.session import open_session
from moodle_wizard.core.sql.parsers import normalize_replica_status
from moodle_wizard.core.state import MigrationState, StepName, StepStatus
from moodle_wizard.core.steps.registry import STEP_CLASSES, implemented
from moodle_wizard.tui.runner import SessionIO

# -- what operations report --------------------------------------------------------------------


@dataclass(frozen=True)
class HostCheck:
    name: str
    address: str
    ok: bool
    reason: str = ""
    changed_key: bool = False


@dataclass(frozen=True)
class MoodleConfig:
    """What config.php on the app host says, the password masked."""

    values: dict[str, str]
    error: str | None = None


@dataclass(frozen=True)
class ConnectionReport:
    hosts: list[HostCheck]
    moodle: MoodleConfig | None


@dataclass(frozen=True)
class StateSnapshot:
    state: MigrationState


@dataclass(frozen=True)
class Finding:
    """A preflight problem, as the step reported it."""

    step: str
    level: str  # error | warning | question
    message: str
    risky: bool = False


@dataclass(frozen=True)
class DiscoveryResult:
    state: MigrationState
    findings: list[Finding]


@dataclass(frozen=True)
class ReviewResult:
    runbook: str
    findings: list[Finding]


@dataclass(frozen=True)
class HealthItem:
    group: str
    label: str
    ok: bool | None  # None: not checked / not available
    detail: str = ""


@dataclass(frozen=True)
class RunResult:
    state: MigrationState
    undone: list[str] = field(default_factory=list)


@dataclass
class Settings:
    """How sessions are opened (tests point known_hosts at a file of their own)."""

    known_hosts: Path | None = None


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
    except EXPECTED as exc:
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


async def findings(ctx: Context, after: StepName = StepName.DISCOVER) -> list[Finding]:
    """Every later step's read-only preflight, as findings (questions are not asked here)."""
    out: list[Finding] = []
    for name in implemented():
        if list(StepName).index(name) <= list(StepName).index(after):
            continue
        if ctx.state.step(name).status not in (StepStatus.PENDING, StepStatus.ROLLED_BACK):
            continue
        step = STEP_CLASSES[name](ctx)
        try:
            problems = await step.preflight()
        except EXPECTED as exc:
            out.append(Finding(name, "error", ctx.secrets.mask(str(exc))))
            continue
        out += [Finding(name, p.level, ctx.secrets.mask(p.message), p.risky) for p in problems]
    return out


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
        text = await runbook_markdown(ctx)
        found = await findings(ctx)
        return ReviewResult(text, found)


async def check_step(io: SessionIO, settings: Settings, inventory: Inventory,
                     state: MigrationState, name: StepName) -> list[Finding]:
    """One step's read-only preflight, in a dry session (the VIP screen's "is it free?")."""
    async with _session(io, settings, inventory, state.model_copy(deep=True), None) as ctx:
        if name not in STEP_CLASSES:
            return [Finding(name.value, "warning", "this engine build has no such step yet")]
        try:
            problems = await STEP_CLASSES[name](ctx).preflight()
        except EXPECTED as exc:
            return [Finding(name.value, "error", ctx.secrets.mask(str(exc)))]
        return [Finding(name.value, p.level, ctx.secrets.mask(p.message), p.risky)
                for p in problems]


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
    """The result, seen from outside: replica lag, ProxySQL's servers per hostgroup, which
    node holds the VIP, Moodle's login through it. Read-only, through the steps' own read
    methods where they have them (the generated secrets are read from the migration's file,
    so the session is given its state path; nothing here saves)."""
    items: list[HealthItem] = []
    async with _session(io, settings, inventory, state.model_copy(deep=True), path) as ctx:
        done = {n for n in StepName if ctx.state.step(n).status == StepStatus.DONE}
        if StepName.REPLICAS in done:
            items += await _replication(ctx)
        if StepName.PROXYSQL in done:
            items += await _proxysql(ctx)
        if StepName.VIP in done:
            items += await _vip_holder(ctx)
        if StepName.CUTOVER in done:
            items.append(await _probe(ctx))
        elif StepName.VIP in done:
            items.append(await _vip_login(ctx))
        for name in StepName:
            if name not in STEP_CLASSES:
                items.append(HealthItem(name.value, "", None, "not in this engine build yet"))
        if not items:
            items.append(HealthItem("", "nothing to check yet", None,
                                    "the checks start with the replicas"))
    return items


def _host_names(inventory: Inventory) -> dict[str, str]:
    return {h.address: n for n, h in inventory.hosts.items()}


async def _proxysql(ctx: Context) -> list[HealthItem]:
    step = STEP_CLASSES[StepName.PROXYSQL](ctx)
    runtime = getattr(step, "runtime_config", None)
    if runtime is None:
        return [HealthItem("proxysql", "servers", None, "this engine cannot read ProxySQL")]
    names = _host_names(ctx.inventory)
    items = []
    for px in ctx.inventory.proxies:
        try:
            config = await runtime(px)
        except EXPECTED as exc:
            items.append(HealthItem("proxysql", px, False, ctx.secrets.mask(str(exc))))
            continue
        groups: dict[int, list[str]] = {}
        healthy = True
        for row in config.get("mysql_servers", []):
            status = str(row.get("status", "?"))
            healthy &= status == "ONLINE"
            host = names.get(str(row.get("hostname")), str(row.get("hostname")))
            groups.setdefault(int(row.get("hostgroup_id", -1)), []).append(
                f"{host} {status}")
        detail = "; ".join(f"HG {hg}: {', '.join(servers)}"
                           for hg, servers in sorted(groups.items())) or "no servers"
        items.append(HealthItem("proxysql", px, healthy and bool(groups), detail))
    return items


async def _vip_holder(ctx: Context) -> list[HealthItem]:
    step = STEP_CLASSES[StepName.VIP](ctx)
    holders_of = getattr(step, "holders", None)
    vip = ctx.inventory.vip.address if ctx.inventory.vip else "the VIP"
    if holders_of is None:
        return [HealthItem("vip", "holder", None, "this engine cannot tell")]
    try:
        holders = list(await holders_of())
    except EXPECTED as exc:
        return [HealthItem("vip", "holder", False, ctx.secrets.mask(str(exc)))]
    ok = len(holders) == 1
    detail = (f"{holders[0]} holds {vip}" if ok else
              f"{vip} is on {' and '.join(holders)} (must be one)" if holders else
              f"no proxy holds {vip}")
    return [HealthItem("vip", "holder", ok, detail)]


async def _vip_login(ctx: Context) -> HealthItem:
    """Moodle's user through the VIP from the app host (before the cut-over)."""
    from moodle_wizard.core.steps import vip as vip_module

    login = getattr(vip_module, "vip_login", None)
    if login is None:
        return HealthItem("vip", "Moodle's login", None, "this engine cannot try it")
    step = STEP_CLASSES[StepName.VIP](ctx)
    try:
        who = await login(step, deadline=time.monotonic() + 10)
    except EXPECTED as exc:
        return HealthItem("vip", "Moodle's login", False, ctx.secrets.mask(str(exc)))
    return HealthItem("vip", "Moodle's login", True,
                      f"through the VIP reached {getattr(who, 'hostname', who)}")


async def _replication(ctx: Context) -> list[HealthItem]:
    items = []
    for r in ctx.inventory.replicas:
        try:
            db = await ctx.db(r)
            rows = await db.run(db.dialect.show_replica_status())
        except EXPECTED as exc:
            items.append(HealthItem("replicas", r, False, ctx.secrets.mask(str(exc))))
            continue
        status = normalize_replica_status(rows[0] if rows else None)
        if status is None:
            items.append(HealthItem("replicas", r, False, "not configured as a replica"))
        elif status.errors:
            items.append(HealthItem("replicas", r, False, "; ".join(status.errors)))
        else:
            lag = "unknown" if status.seconds_behind is None else f"{status.seconds_behind} s"
            items.append(HealthItem(
                "replicas", r, status.healthy and status.seconds_behind == 0,
                f"io {'on' if status.io_running else 'OFF'}, sql "
                f"{'on' if status.sql_running else 'OFF'}, lag {lag}"))
    return items


async def _probe(ctx: Context) -> HealthItem:
    label = "moodle-probe"
    app = ctx.inventory.apps[0]
    try:
        host = await ctx.host(app)
        out = await host.run(["sh", "-c", "command -v moodle-probe >/dev/null || exit 127; "
                              "exec moodle-probe"], check=False, timeout=60)
    except EXPECTED as exc:
        return HealthItem("cutover", label, False, ctx.secrets.mask(str(exc)))
    if out.exit_status == 127:
        return await _vip_login(ctx)
    if out.exit_status != 0:
        last = (out.stderr.strip() or out.stdout.strip()).splitlines()[-1:] or ["failed"]
        return HealthItem("cutover", label, False, ctx.secrets.mask(last[0]))
    try:
        data = json.loads(out.stdout)
    except json.JSONDecodeError:
        return HealthItem("cutover", label, True, ctx.secrets.mask(out.stdout.strip()[:200]))
    if not isinstance(data, dict):
        return HealthItem("cutover", label, True, ctx.secrets.mask(_flat(data))[:200])
    return HealthItem("cutover", label, True,
                      f"{data.get('host', '?')} (server_id {data.get('server_id', '?')}) via "
                      f"{data.get('via', '?')}, wrote and read a row in {data.get('ms', '?')} ms")
