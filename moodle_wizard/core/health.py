"""The health of a migration's result, seen from outside: what the dashboard and
`moodle-wizard health` both show.

One item per thing that can be wrong on its own: each replica's replication (both threads,
lag), each ProxySQL node's runtime servers per hostgroup, the nodes' config checksums
compared, the VIP's holder (exactly one), Moodle's user through the VIP, and after the
cut-over Moodle's own config.php login on each app host. An item whose step is not done is
"not applicable yet": it is neither healthy nor unhealthy, and the verdict counts only the
applicable items. Nothing here changes a host or the journal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from moodle_wizard.core.context import Context
from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.moodle_config import read_moodle_config, register_config_secrets
from moodle_wizard.core.sql.parsers import ReplicaStatus, normalize_replica_status
from moodle_wizard.core.state import StepName, StepStatus
from moodle_wizard.core.steps.proxysql import ProxySQLStep
from moodle_wizard.core.steps.proxysql_verify import (
    RuntimeServer,
    runtime_checksums,
    runtime_servers,
)
from moodle_wizard.core.steps.replicas.common import replica_port
from moodle_wizard.core.steps.vip import Vip
from moodle_wizard.core.steps.vip_login import vip_login

# A replica further behind than this is unhealthy (Moodle's reads through the reader
# hostgroup would see old data).
MAX_LAG_S = 10
# How long Moodle's login through the VIP may take (a VIP moving between nodes answers
# again within ~4 s on the lab).
LOGIN_TIMEOUT_S = 8.0


@dataclass(frozen=True)
class HealthItem:
    """One check. `ok` is None exactly when the check does not apply yet (its step is not
    done); `detail` says what was seen, and why when not ok."""

    group: str  # replication | proxysql | vip | moodle
    name: str
    applicable: bool
    ok: bool | None
    detail: str

    def __post_init__(self) -> None:
        if self.applicable != (self.ok is not None):
            raise ValueError(f"health item {self.name}: ok must be a bool exactly when the "
                             "check applies")


def passed(group: str, name: str, detail: str) -> HealthItem:
    return HealthItem(group, name, True, True, detail)


def failed(group: str, name: str, detail: str) -> HealthItem:
    return HealthItem(group, name, True, False, detail)


def not_yet(group: str, name: str, step: StepName) -> HealthItem:
    return HealthItem(group, name, False, None, f"not applicable yet: step {step} is not done")


def healthy(items: Sequence[HealthItem]) -> bool:
    """The verdict: every applicable item is ok, and there is at least one (before the
    replicas are done nothing can be proven healthy)."""
    applicable = [i for i in items if i.applicable]
    return bool(applicable) and all(i.ok is True for i in applicable)


def verdict(items: Sequence[HealthItem]) -> str:
    """The verdict in words, as the dashboard and `moodle-wizard health` print it."""
    applicable = [i for i in items if i.applicable]
    failing = [i for i in applicable if i.ok is not True]
    if not applicable:
        return "nothing to check yet: the checks start once the replicas step is done"
    if failing:
        return f"UNHEALTHY: {len(failing)} of {len(applicable)} checks fail"
    return f"healthy: all {len(applicable)} applicable checks pass"


@dataclass(frozen=True)
class HealthReport:
    items: tuple[HealthItem, ...]
    seconds: float

    @property
    def applicable(self) -> list[HealthItem]:
        return [i for i in self.items if i.applicable]

    @property
    def healthy(self) -> bool:
        return healthy(self.items)

    def to_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "seconds": round(self.seconds, 3),
                "items": [asdict(i) for i in self.items]}


# -- pure verdicts (unit-tested on canned rows) --------------------------------------------


def replica_item(name: str, status: ReplicaStatus | None, max_lag_s: int = MAX_LAG_S
                 ) -> HealthItem:
    label = f"{name} replication"
    if status is None:
        return failed("replication", label, "not a replica: SHOW REPLICA STATUS is empty")
    why = []
    if not status.io_running:
        why.append(f"IO thread not running ({status.io_state or 'stopped'})")
    if not status.sql_running:
        why.append("SQL thread not running")
    why += [f"error: {e}" for e in status.errors]
    if why:
        return failed("replication", label, "; ".join(why))
    if status.seconds_behind is None:
        return failed("replication", label, "lag unknown (Seconds_Behind is NULL)")
    if status.seconds_behind > max_lag_s:
        return failed("replication", label, f"lag {status.seconds_behind} s (more than "
                      f"{max_lag_s} s)")
    return passed("replication", label,
                  f"IO and SQL threads running, lag {status.seconds_behind} s")


def servers_item(px: str, servers: Sequence[RuntimeServer], expected: set[tuple[int, str]],
                 names: dict[str, str], ports: dict[str, int] | None = None) -> HealthItem:
    """A node's runtime servers: every one ONLINE, and each expected (hostgroup, address)
    among them (the source in the writer hostgroup, the replicas in the reader's), on the
    port its server listens on (`ports`, by address): ProxySQL keeps a server it cannot reach
    ONLINE until its pings have failed often enough."""
    label = f"{px} servers"
    groups: dict[int, list[str]] = {}
    for s in servers:
        groups.setdefault(s.hostgroup, []).append(f"{names.get(s.hostname, s.hostname)} "
                                                  f"{s.status}")
    seen = "; ".join(f"HG {hg}: {', '.join(v)}" for hg, v in sorted(groups.items()))
    why = [f"{names.get(s.hostname, s.hostname)} is {s.status} in hostgroup {s.hostgroup}"
           for s in servers if s.status != "ONLINE"]
    why += [f"{names.get(s.hostname, s.hostname)} is on port {s.port} in hostgroup "
            f"{s.hostgroup}, but its server listens on {(ports or {})[s.hostname]}"
            for s in servers if (ports or {}).get(s.hostname, s.port) != s.port]
    online = {(s.hostgroup, s.hostname) for s in servers if s.status == "ONLINE"}
    why += [f"{names.get(addr, addr)} is not ONLINE in hostgroup {hg}"
            for hg, addr in sorted(expected - online)
            if not any((s.hostgroup, s.hostname) == (hg, addr) for s in servers)]
    if why:
        return failed("proxysql", label, f"{'; '.join(why)} ({seen or 'no servers'})")
    return passed("proxysql", label, seen)


def checksums_item(checksums: dict[str, dict[str, str] | str]) -> HealthItem:
    """The nodes' runtime_checksums_values compared module by module. A node's value is its
    checksums, or why they could not be read."""
    label = "config checksums"
    unread = {px: v for px, v in checksums.items() if isinstance(v, str)}
    if unread:
        return failed("proxysql", label, "; ".join(f"{px} did not answer: {why}"
                                                    for px, why in unread.items()))
    read = {px: v for px, v in checksums.items() if isinstance(v, dict)}
    if len(read) < 2:
        return passed("proxysql", label, "one node: nothing to compare")
    modules = sorted({m for v in read.values() for m in v})
    differ = [m for m in modules if len({v.get(m, "(missing)") for v in read.values()}) > 1]
    if differ:
        return failed("proxysql", label, "; ".join(
            f"{m} differs (" + ", ".join(f"{px} {v.get(m, '(missing)')}"
                                         for px, v in read.items()) + ")" for m in differ))
    return passed("proxysql", label, f"{len(modules)} modules identical on "
                  f"{' and '.join(read)}")


def holder_item(holders: Sequence[str], vip: str) -> HealthItem:
    if len(holders) == 1:
        return passed("vip", "VIP holder", f"{holders[0]} holds {vip}")
    if not holders:
        return failed("vip", "VIP holder", f"no proxy node holds {vip}")
    return failed("vip", "VIP holder", f"{vip} is on {' and '.join(holders)} at once (must "
                  "be exactly one)")


def config_login_item(app: str, vip: str, got: dict[str, Any]) -> HealthItem:
    """Moodle's config.php on `app` as Moodle reads it: dbhost is the VIP and its own login
    reaches a writable server."""
    label = f"{app} config.php login"
    connect = got.get("connect") or {}
    server = connect.get("server") or {}
    if got.get("dbhost") != vip:
        return failed("moodle", label, f"config.php's dbhost is {got.get('dbhost')!r}, not "
                      f"the VIP {vip}")
    if not connect.get("ok"):
        return failed("moodle", label, f"Moodle's login through {vip} fails: "
                      f"{connect.get('error', 'PHP has no mysqli')}")
    if str(server.get("read_only")) not in ("0", "None"):
        return failed("moodle", label, f"through {vip} Moodle reached a read-only server "
                      f"({server.get('host')})")
    return passed("moodle", label, f"Moodle's own login through {vip} reaches "
                  f"{server.get('host')} (server_id {server.get('server_id')})")


# -- reading the hosts ----------------------------------------------------------------------


async def _guard(ctx: Context, group: str, name: str,
                 check: Callable[[], Awaitable[HealthItem]]) -> HealthItem:
    """A check that could not look is not ok: its error is the reason."""
    try:
        return await check()
    except OperatorError as exc:
        return failed(group, name, ctx.secrets.mask(str(exc)))


async def _replica(ctx: Context, name: str, max_lag_s: int) -> HealthItem:
    db = await ctx.db(name)
    rows = await db.run(db.dialect.show_replica_status())
    return replica_item(name, normalize_replica_status(rows[0] if rows else None), max_lag_s)


async def _proxies(ctx: Context) -> list[HealthItem]:
    inv, step = ctx.inventory, ProxySQLStep(ctx)
    names = {h.address: n for n, h in inv.hosts.items()}
    expected = {(inv.proxysql.writer_hostgroup, inv.hosts[inv.source].address)}
    expected |= {(inv.proxysql.reader_hostgroup, inv.hosts[r].address) for r in inv.replicas}
    ports = {inv.hosts[inv.source].address: int(step.src.port)}
    ports |= {inv.hosts[r].address: replica_port(step.src) for r in inv.replicas}

    async def node(px: str) -> tuple[HealthItem, dict[str, str] | str]:
        try:
            admin = await step.admin(px)
            servers = await runtime_servers(admin)
            sums = await runtime_checksums(admin)
        except OperatorError as exc:
            why = ctx.secrets.mask(str(exc))
            return failed("proxysql", f"{px} servers", why), why
        return servers_item(px, servers, expected, names, ports), sums

    seen = await asyncio.gather(*(node(px) for px in inv.proxies))
    sums = {px: s for px, (_, s) in zip(inv.proxies, seen, strict=True)}
    return [item for item, _ in seen] + [checksums_item(sums)]


async def _holder(ctx: Context) -> HealthItem:
    step = Vip(ctx)
    return holder_item(await step.holders(), step.vip.address)


async def _vip_login(ctx: Context) -> HealthItem:
    step = Vip(ctx)
    who = await vip_login(ctx, deadline=time.monotonic() + LOGIN_TIMEOUT_S)
    where = f"{step.vip.address}:{ctx.inventory.proxysql.client_port}"
    if who.read_only:
        return failed("vip", "Moodle's login", f"through {where} Moodle's user reached "
                      f"{who.hostname} (server_id {who.server_id}), a read-only server")
    return passed("vip", "Moodle's login", f"through {where} from {ctx.inventory.apps[0]}: "
                  f"reached {who.hostname} (server_id {who.server_id})")


async def _config_login(ctx: Context, app: str) -> HealthItem:
    vip = Vip(ctx).vip.address
    got = await read_moodle_config(await ctx.host(app), ctx.inventory.migration.moodle_config)
    register_config_secrets(got, ctx.secrets, app)  # masked in every detail from now on
    item = config_login_item(app, vip, got)
    return HealthItem(item.group, item.name, True, item.ok, ctx.secrets.mask(item.detail))


async def check_health(ctx: Context, *, max_lag_s: int = MAX_LAG_S) -> HealthReport:
    """Every health item of the migration in `ctx`, read-only, the checks at once."""
    start = time.monotonic()
    inv = ctx.inventory

    def done(step: StepName) -> bool:
        return ctx.state.step(step).status == StepStatus.DONE

    checks: list[Awaitable[HealthItem | list[HealthItem]]] = []
    skipped: list[HealthItem] = []
    for r in inv.replicas:
        name = f"{r} replication"
        if done(StepName.REPLICAS):
            checks.append(_guard(ctx, "replication", name,
                                 partial(_replica, ctx, r, max_lag_s)))
        else:
            skipped.append(not_yet("replication", name, StepName.REPLICAS))
    if done(StepName.PROXYSQL):
        checks.append(_proxies(ctx))
    else:
        skipped += [not_yet("proxysql", f"{px} servers", StepName.PROXYSQL)
                    for px in inv.proxies]
        skipped.append(not_yet("proxysql", "config checksums", StepName.PROXYSQL))
    for name, group, check in (("VIP holder", "vip", _holder),
                               ("Moodle's login", "vip", _vip_login)):
        if done(StepName.VIP):
            checks.append(_guard(ctx, group, name, partial(check, ctx)))
        else:
            skipped.append(not_yet(group, name, StepName.VIP))
    for app in inv.apps:
        name = f"{app} config.php login"
        if done(StepName.CUTOVER):
            checks.append(_guard(ctx, "moodle", name, partial(_config_login, ctx, app)))
        else:
            skipped.append(not_yet("moodle", name, StepName.CUTOVER))
    items: list[HealthItem] = []
    for result in await asyncio.gather(*checks):
        items += result if isinstance(result, list) else [result]
    order = {"replication": 0, "proxysql": 1, "vip": 2, "moodle": 3}
    every = sorted([*items, *skipped], key=lambda i: order[i.group])
    return HealthReport(tuple(every), time.monotonic() - start)
