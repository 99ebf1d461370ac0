"""Moodle's own login through the VIP: what the vip step verifies and health reports."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.remote.client import ClientLoginFailed, ServerIdentity, client_check

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context


async def vip_login(ctx: Context, *, deadline: float) -> ServerIdentity:
    """Moodle's user logs in through VIP:client port, from Moodle's first app host."""
    inv = ctx.inventory
    assert inv.vip is not None
    moodle = ctx.discovered.moodle
    port = inv.proxysql.client_port
    vip_address = inv.vip.address
    local = await ctx.forward(inv.apps[0], vip_address, port)
    failures: list[ClientLoginFailed] = []

    async def login() -> ServerIdentity | None:
        try:
            return await client_check(local, user=moodle.dbuser or "",
                                      password=await ctx.moodle_password(),
                                      database=moodle.dbname or "", timeout=3)
        except ClientLoginFailed as exc:
            failures.append(exc)
            return None

    return await poll_until(
        login, timeout_s=deadline - time.monotonic(), interval_s=0.3,
        what=lambda: f"Moodle's user cannot log in through the VIP {vip_address}:{port} from "
                     f"{inv.apps[0]}: {failures[-1]}")
