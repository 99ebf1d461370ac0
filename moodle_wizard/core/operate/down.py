"""Is the primary really gone? Failover asks more than one vantage point before it acts.

- the wizard itself (through SSH to the primary's host, its server's socket);
- each replica's IO thread (connected to the primary, or reconnecting after losing it);
- each proxy node's monitor (ProxySQL's ping and connect logs since the wizard's own try).

Any vantage point that sees the primary answer refuses the failover: a primary that is alive
and writable would be a second writer (split brain). At least two vantage points besides the
wizard must confirm it down, or the failover is refused as unproven.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.operate.reads import address, dialect, replica_status
from moodle_wizard.core.poll import PollTimeout, poll_until

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

# How long the vantage points have to speak: a replica's IO thread notices a lost primary
# at once, or after slave_net_timeout when packets vanish; a proxy node answers from its
# monitor's log, or from a TCP connect made from that host when its monitor has not pinged
# since (every mysql-monitor_ping_interval, 8 s by default in ProxySQL 2.7).
EVIDENCE_TIMEOUT_S = 15.0
REQUIRED_WITNESSES = 2
# Clocks of the hosts may differ a little (NTP), by up to this much: a monitor entry counts only
# when it is stamped at least this long after the wizard's own try, so that it surely began
# after it. Counting older ones let a ping that succeeded just before a crash (or within the
# skew of it) pass for a primary still alive, and refuse a failover that was due.
SKEW_S = 1.0


def monitor_since_us(wizard_try: float) -> int:
    """The earliest `time_start_us` of a monitor entry that surely began after the wizard's
    own try at `wizard_try` (seconds since the epoch, the wizard's clock)."""
    return int((wizard_try + SKEW_S) * 1e6)


@dataclass
class Evidence:
    down: dict[str, str] = field(default_factory=dict)  # vantage point -> what it saw
    alive: dict[str, str] = field(default_factory=dict)
    silent: dict[str, str] = field(default_factory=dict)  # no answer, or nothing yet


async def wizard_reaches(ctx: Context, name: str) -> str | None:
    """What the wizard's own try found when the server answered, or None when it did not."""
    try:
        await ctx.forget_db(name)
        db = await asyncio.wait_for(ctx.db(name), 10)
        row = await db.one("SELECT @@global.read_only AS ro")
        return f"answers (read_only={row['ro']})"
    except (OperatorError, OSError, TimeoutError):
        await ctx.forget_db(name)
        return None


async def _replica_sees(ctx: Context, replica: str, primary_addr: str) -> tuple[str, str]:
    try:
        status = await replica_status(await ctx.db(replica), dialect(ctx))
    except OperatorError as exc:
        return "silent", f"did not answer: {ctx.secrets.mask(str(exc))}"
    if status is None or status.source_host != primary_addr:
        return "silent", "does not replicate from it"
    if status.io_running:
        return "alive", "its IO thread is connected to it"
    if status.last_io_error or status.io_state.lower() in ("connecting", "no"):
        return "down", f"its IO thread lost it ({status.last_io_error or status.io_state})"
    return "silent", f"IO thread {status.io_state}"


async def _monitor_sees(ctx: Context, px: str, addr: str, since_us: int) -> tuple[str, str]:
    from moodle_wizard.core.steps.proxysql import ProxySQLStep
    from moodle_wizard.core.steps.proxysql_verify import tcp_probe

    try:
        admin = await ProxySQLStep(ctx).admin(px)
        rows = []
        for table, err_col in (("mysql_server_ping_log", "ping_error"),
                               ("mysql_server_connect_log", "connect_error")):
            rows += [(int(r["t"]), r["e"], table) for r in await admin.query(
                f"SELECT time_start_us AS t, {err_col} AS e FROM monitor.{table} WHERE "
                f"hostname = %s AND time_start_us >= %s ORDER BY time_start_us DESC LIMIT 5",
                (addr, since_us))]
        if not rows:
            # Its monitor has not checked since (it pings every mysql-monitor_ping_interval,
            # 8 s by default): ask from the proxy host itself, now.
            step = ProxySQLStep(ctx)
            seen = await tcp_probe(step, px, addr, int(ctx.discovered.source.port))
            if seen == "open":
                return "alive", "it accepts TCP connections from there"
            if seen in ("refused", "timeout"):
                return "down", f"TCP connect from there: {seen} (its monitor has not checked "
                "since)"
            return "silent", f"TCP connect from there: {seen}"
    except OperatorError as exc:
        return "silent", f"did not answer: {ctx.secrets.mask(str(exc))}"
    newest = max(rows, key=lambda r: r[0])
    if newest[1] in (None, ""):
        return "alive", f"its monitor reached it ({newest[2]})"
    if "access denied" in str(newest[1]).lower():
        # The server answered; it only refused the monitor's login.
        return "alive", f"it answers its monitor (and refuses its login: {newest[1]})"
    return "down", f"its monitor fails to reach it: {newest[1]}"


async def confirm_down(ctx: Context, primary: str, replicas: tuple[str, ...],
                       timeout_s: float = EVIDENCE_TIMEOUT_S) -> Evidence:
    """The evidence, once it settles: every vantage point has spoken or the time is up.
    Raises nothing; the caller decides (see `verdict`)."""
    ev = Evidence()
    seen = await wizard_reaches(ctx, primary)
    if seen is not None:
        ev.alive["the wizard"] = seen
        return ev
    ev.down["the wizard"] = "cannot reach it"
    since_us = monitor_since_us(time.time())
    addr = address(ctx, primary)

    async def gather() -> bool | None:
        views = await asyncio.gather(
            *(_replica_sees(ctx, r, addr) for r in replicas),
            *(_monitor_sees(ctx, px, addr, since_us) for px in ctx.inventory.proxies))
        names = [*replicas, *ctx.inventory.proxies]
        ev.down = {"the wizard": ev.down["the wizard"]}
        ev.alive.clear()
        ev.silent.clear()
        for name, (kind, what) in zip(names, views, strict=True):
            {"down": ev.down, "alive": ev.alive, "silent": ev.silent}[kind][name] = what
        if ev.alive:
            return True
        return True if not ev.silent else None

    with contextlib.suppress(PollTimeout):
        await poll_until(gather, timeout_s=timeout_s, interval_s=0.5, what="")
    return ev


def verdict(primary: str, ev: Evidence) -> str | None:
    """Why the failover must not go on (None: the primary is down, proven)."""
    if ev.alive:
        who = "; ".join(f"{k}: {v}" for k, v in ev.alive.items())
        return (f"{primary} is not down ({who}): a failover now would make a second writer; "
                f"use `moodle-wizard switchover` for a planned change, or find out why Moodle "
                "cannot reach it")
    witnesses = [k for k in ev.down if k != "the wizard"]
    if len(witnesses) < REQUIRED_WITNESSES:
        silent = "; ".join(f"{k}: {v}" for k, v in ev.silent.items()) or "none"
        return (f"{primary} cannot be proven down: the wizard cannot reach it, but only "
                f"{len(witnesses)} other vantage point(s) confirm it "
                f"({', '.join(witnesses) or 'none'}; silent: {silent}); it may be a network "
                "problem between the wizard and it: check from the proxies and run failover "
                "again")
    return None
