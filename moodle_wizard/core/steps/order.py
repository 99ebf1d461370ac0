"""Which order a migration runs its steps in, decided once discovery has run.

Classic: prepare the source, seed the replicas, then ProxySQL, the VIP and the cutover. When
the source must restart (to turn its binary log on), Moodle still talks to it directly then,
and every request during the restart fails (61 failed writes in the benchmark).

Proxy-first: the source is prepared (its option file written, the accounts made) but not
restarted; ProxySQL (the source its only server), the VIP and the cutover come next; then the
replicas step restarts the source behind ProxySQL, which holds Moodle's requests while its only
server is down (`mysql-connect_timeout_server_max`) and retries a query that failed outside a
transaction (`mysql-query_retries_on_failure`): a pause instead of errors. Then the replicas
are seeded and join the reader hostgroup. It needs ProxySQL to reach the source before the
restart: a source listening on loopback only (Moodle on the same server) cannot be put behind
ProxySQL before its restart widens bind-address, so it runs the classic order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from moodle_wizard.core.errors import StepError
from moodle_wizard.core.state import MigrationOrder

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["choose_order"]


def choose_order(ctx: Context) -> tuple[MigrationOrder, str]:
    """The order for this migration and why (the inventory's `migration.order`)."""
    from moodle_wizard.core.steps.prepare_source import PrepareSource

    setting = ctx.inventory.migration.order
    prepare = PrepareSource(ctx)
    listen = any(d.changed and d.setting == "bind_address" for d in prepare.binlog_plan())
    source = ctx.inventory.source
    if listen:
        why = (f"{source} listens on loopback only: ProxySQL cannot reach it before the restart "
               "that widens bind-address")
        if setting == "proxy-first":
            raise StepError(f"migration.order = \"proxy-first\", but {why}; use \"auto\" or "
                            "\"classic\"")
        return MigrationOrder.CLASSIC, why
    if ctx.inventory.migration.tls:
        # core/steps/tls_steps.py: ProxySQL's backends use TLS from the proxysql step on.
        why = "TLS is on (migration.tls = true): it runs the classic order for now"
        if setting == "proxy-first":
            raise StepError(f"migration.order = \"proxy-first\", but {why}; use \"auto\" or "
                            "\"classic\"")
        return MigrationOrder.CLASSIC, why
    if setting == "classic":
        return MigrationOrder.CLASSIC, "the inventory says migration.order = \"classic\""
    if setting == "proxy-first":
        return MigrationOrder.PROXY_FIRST, "the inventory says migration.order = \"proxy-first\""
    if prepare.restart_needed():
        return MigrationOrder.PROXY_FIRST, (f"{source} must restart: behind ProxySQL, Moodle's "
                                            "requests wait instead of failing")
    return MigrationOrder.CLASSIC, f"{source} needs no restart"

