"""The VIP failover drill: stop ProxySQL where the VIP is, time how long until the VIP answers
from another node with a real login, then start ProxySQL again.

"Answers" means: the VIP is on exactly one other node, and Moodle's user logs in through
VIP:client port from Moodle's app host (where the traffic really comes from). The clock runs
from the moment the stop command is sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from moodle_wizard.core.context import Context
from moodle_wizard.core.events import OutputLine
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.remote.client import ClientLoginFailed, ServerIdentity, client_check
from moodle_wizard.core.state import StepName, StepStatus
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.vip import Vip
from moodle_wizard.core.steps.vip_node import CHECK_SCRIPT

DRILL_TIMEOUT_S = 60.0
RECOVER_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DrillResult:
    old_holder: str
    new_holder: str
    seconds: float
    reached: ServerIdentity


async def drill_vip(ctx: Context) -> DrillResult:
    for step in (StepName.PROXYSQL, StepName.VIP):
        status = ctx.state.step(step).status
        if status != StepStatus.DONE:
            raise StepError(f"the {step} step is {status}, not done: run the migration through "
                            "the vip step before the drill")
    vip_step = Vip(ctx)
    inv = ctx.inventory
    assert inv.vip is not None
    holders = await vip_step.holders()
    if len(holders) != 1:
        raise StepError(f"the VIP {inv.vip.address} is on {' and '.join(holders) or 'no node'}; "
                        "a drill needs exactly one holder")
    old = holders[0]
    moodle = ctx.discovered.moodle
    password = await ctx.moodle_password()
    local = await ctx.forward(inv.apps[0], inv.vip.address, inv.proxysql.client_port)
    old_host = await ctx.host(old)
    ctx.emit(OutputLine("drill", old, f"stopping ProxySQL on {old}, which holds the VIP"))
    seen: list[list[str]] = []

    async def answered() -> DrillResult | None:
        seen.append(await vip_step.holders())
        now = seen[-1]
        if len(now) != 1 or now[0] == old:
            return None
        try:
            who = await client_check(local, user=moodle.dbuser or "", password=password,
                                     database=moodle.dbname or "", timeout=1)
        except ClientLoginFailed:
            return None
        return DrillResult(old, now[0], time.monotonic() - started, who)

    def late() -> str:
        return (f"the VIP did not answer from another node within {DRILL_TIMEOUT_S:.0f} s of "
                f"stopping ProxySQL on {old} (now on {' and '.join(seen[-1]) or 'no node'})")

    # The clock runs from the stop command; so does the drill's time limit.
    started = time.monotonic()
    await old_host.run(["service", "proxysql", "stop"], timeout=120)
    try:
        return await poll_until(answered, timeout_s=DRILL_TIMEOUT_S - (time.monotonic() - started),
                                interval_s=0.05, what=late)
    finally:
        ctx.emit(OutputLine("drill", old, f"starting ProxySQL on {old} again"))
        await old_host.run(["service", "proxysql", "start"], timeout=120)
        await _healthy_again(ctx, old)


async def _healthy_again(ctx: Context, px: str) -> None:
    """Until keepalived's own check passes on `px` again (the node can take the VIP back)."""
    host = await ctx.host(px)

    async def listens() -> bool | None:
        return True if (await host.run([CHECK_SCRIPT], check=False)).exit_status == 0 else None

    await poll_until(listens, timeout_s=RECOVER_TIMEOUT_S, interval_s=0.2,
                     what=f"ProxySQL on {px} does not listen again {RECOVER_TIMEOUT_S:.0f} s "
                          "after starting it: see /var/lib/proxysql/proxysql.log there")
