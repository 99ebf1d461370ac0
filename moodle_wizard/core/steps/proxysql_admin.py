"""The wizard's login to ProxySQL's admin interface on a proxy node: with the admin user the
proxysql step created once it is in place, else with the initial one (a resume may find
either). Shared by the proxysql step, the replicas step (which adds the readers in the
proxy-first order) and the operations after the migration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moodle_wizard.core.errors import StepError
from moodle_wizard.core.remote.proxysql import AdminLoginRefused, ProxySqlAdmin
from moodle_wizard.core.steps.proxysql_preflight import PACKAGE_ADMIN_PASSWORD

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["initial_password", "wizard_admin"]


def initial_password(ctx: Context) -> str:
    return ctx.secrets.optional("proxysql_initial_admin_password") or PACKAGE_ADMIN_PASSWORD


async def wizard_admin(ctx: Context, px: str) -> ProxySqlAdmin:
    cfg = ctx.inventory.proxysql
    generated = ctx.secrets.generated_value("proxysql_admin_password")
    if generated:
        try:
            return await ctx.proxysql_admin(px, cfg.admin_user, generated)
        except AdminLoginRefused:
            pass
    try:
        return await ctx.proxysql_admin(px, cfg.initial_admin_user, initial_password(ctx))
    except AdminLoginRefused as exc:
        raise StepError(f"{exc}; neither the wizard's admin user nor the initial admin "
                        f"credentials work on {px}") from None
