"""`moodle-wizard proxysql sync`: Moodle's database password, changed after the migration,
given to every ProxySQL node.

When the operator changes Moodle's password (ALTER USER on the primary, then $CFG->dbpass in
config.php), ProxySQL still holds the old one in mysql_users and Moodle's logins through the
VIP fail until every node has the new one. The order, and why:
1. config.php on every app host evaluated again (as discovery and the cutover read it: PHP
   evaluates it, the wizard never writes it); they must agree on the user and the password;
2. the password logs in to the primary from each proxy host, as ProxySQL's backend connections
   will: a typo in config.php, or an account changed for some hosts only, is refused before
   anything changes;
3. each node's mysql_users rows for Moodle's user (memory and runtime) compared with what the
   proxysql step writes for it, by equality only (no password is ever shown);
4. on each node that differs, the proxysql step's statements for that user, LOAD MYSQL USERS
   TO RUNTIME, SAVE MYSQL USERS TO DISK (the read-only user and everything else stay);
5. verified: every node's mysql_users checksum (runtime_checksums_values) is the same, and
   Moodle's user logs in through each node's client port and through the VIP.
Running it again is safe: a node in step is left alone; with none to change, nothing is.
Each run that changes something is journaled in the cluster's history, its actions too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from moodle_wizard.core.engine import MigrationError
from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.events import StepDone, StepFailed, StepStarted
from moodle_wizard.core.journal_run import run_journaled
from moodle_wizard.core.moodle_config import read_moodle_config, register_config_secrets
from moodle_wizard.core.operate import moves
from moodle_wizard.core.operate.commands import AdminSql
from moodle_wizard.core.operate.operation import OperationRefused, Plan
from moodle_wizard.core.operate.reads import address, port
from moodle_wizard.core.operate.record import Operation, OperationKind, OperationStatus
from moodle_wizard.core.operate.report import OperationReport
from moodle_wizard.core.operate.sync_rows import (
    TABLES,
    USER_COLUMNS,
    NodeState,
    load_statements,
    node_state,
    stage_statements,
)
from moodle_wizard.core.operate.topology import topology
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.records import now
from moodle_wizard.core.remote.client import ClientLoginFailed, ServerIdentity, client_check
from moodle_wizard.core.render.proxysql import FrontendUser
from moodle_wizard.core.state import StepName, StepStatus
from moodle_wizard.core.steps.base import Action, StepError
from moodle_wizard.core.steps.proxysql_admin import wizard_admin
from moodle_wizard.core.steps.proxysql_verify import runtime_checksums
from moodle_wizard.core.steps.vip_login import vip_login

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context

__all__ = ["KIND", "SyncPlan", "run_sync", "sync_plan"]

KIND = OperationKind.SYNC
COMMAND = "moodle-wizard proxysql sync"
LOGIN_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class SyncPlan:
    """What sync found and would run: each node's state, and an action per node to change."""

    primary: str
    user: str
    nodes: Sequence[NodeState]
    plan: Plan

    @property
    def changes(self) -> list[str]:
        return [n.node for n in self.nodes if not n.in_step]


def require_ready(ctx: Context) -> None:
    """Sync is for a migrated cluster: ProxySQL configured and Moodle pointed at it."""
    left = [s for s in (StepName.PROXYSQL, StepName.CUTOVER)
            if ctx.state.step(s).status != StepStatus.DONE]
    if left:
        raise OperationRefused(f"proxysql sync: the migration's {' and '.join(left)} "
                               f"step{'s are' if len(left) > 1 else ' is'} not done (ProxySQL "
                               "takes Moodle's password from config.php once Moodle points at "
                               "it): run `moodle-wizard resume` first; nothing was changed")


async def read_config(ctx: Context) -> FrontendUser:
    """Moodle's user as every app host's config.php names it now (they must agree, and the
    user must be the one ProxySQL routes), with its password; routed as the proxysql step
    routes it (the writer hostgroup, the schema discovery read)."""
    inv, moodle = ctx.inventory, ctx.discovered.moodle
    seen: dict[str, tuple[str, str]] = {}
    for app in inv.apps:
        got = await read_moodle_config(await ctx.host(app), inv.migration.moodle_config)
        # Every password of config.php masked from now on (the new one included).
        password = register_config_secrets(got, ctx.secrets, app)
        seen[app] = (str(got.get("dbuser") or ""), password)
    first, (user, password) = inv.apps[0], seen[inv.apps[0]]
    for app, (other_user, other_password) in seen.items():
        if other_user != user or other_password != password:
            what = "user" if other_user != user else "password"
            raise OperationRefused(f"proxysql sync: config.php on {app} has another database "
                                   f"{what} than on {first}; make every app host's config.php "
                                   "the same, then run it again; nothing was changed")
    if not password:
        raise OperationRefused(f"proxysql sync: config.php on {first} has no $CFG->dbpass; "
                               "nothing was changed")
    if user != (moodle.dbuser or ""):
        raise OperationRefused(f"proxysql sync: config.php on {first} now names the database "
                               f"user {user!r}, ProxySQL routes {moodle.dbuser!r}; sync gives "
                               "ProxySQL a new password, not a new user; nothing was changed")
    ctx.secrets.register("moodle_db_password", password)
    return FrontendUser(user, password, inv.proxysql.writer_hostgroup, moodle.dbname or "")


async def check_primary_login(ctx: Context, user: FrontendUser, primary: str) -> None:
    """The password logs in to the primary from each proxy host, where ProxySQL's backend
    connections come from."""
    target = (address(ctx, primary), port(ctx))
    for px in ctx.inventory.proxies:
        local = await ctx.forward(px, *target)
        try:
            await client_check(local, user=user.username, password=user.password,
                               database=user.default_schema or None)
        except ClientLoginFailed as exc:
            raise OperationRefused(
                f"proxysql sync: {user.username} cannot log in to the primary {primary} from "
                f"{px} with the password config.php holds ({ctx.secrets.mask(str(exc))}); fix "
                "$CFG->dbpass, or the account on the primary (its password for every host it "
                "has: the proxy hosts too), then run it again; nothing was changed") from None


async def node_states(ctx: Context, user: FrontendUser) -> list[NodeState]:
    out = []
    cols = ", ".join(USER_COLUMNS)
    for px in ctx.inventory.proxies:
        admin = await wizard_admin(ctx, px)
        tables = {t: await admin.query(f"SELECT {cols} FROM {t} WHERE username = %s",
                                       (user.username,)) for t in TABLES}
        out.append(node_state(px, user, tables))
    return out


async def sync_plan(ctx: Context) -> SyncPlan:
    """Read everything, change nothing: what `proxysql sync` would do now (also `--plan`)."""
    require_ready(ctx)
    primary = topology(ctx.inventory, ctx.state.cluster).primary
    user = await read_config(ctx)
    await check_primary_login(ctx, user, primary)
    nodes = await node_states(ctx, user)
    changing = [n.node for n in nodes if not n.in_step]
    # Every node's MEMORY first, then each node's LOAD: with ProxySQL Cluster on, a node pulls
    # another's users a few seconds after a LOAD there and rewrites its whole MEMORY table,
    # which must never land between one of our DELETEs and its INSERT.
    actions: list[Action] = [
        moves.action(ctx, f"users:{px}", f"ProxySQL on {px}: Moodle's user {user.username} "
                     "with config.php's password, in MEMORY",
                     [AdminSql(px, s) for s in stage_statements(user)], host=px)
        for px in changing]
    actions += [
        moves.action(ctx, f"load:{px}", f"ProxySQL on {px}: its users to RUNTIME and DISK",
                     [AdminSql(px, s) for s in load_statements()], host=px)
        for px in changing]
    if actions:
        actions.append(Action("verify", "Verify: the same mysql_users checksum on every node; "
                              f"{user.username} logs in through each node and the VIP",
                              partial(verify, ctx, user),
                              ["on each proxy node, ProxySQL admin: SELECT name, checksum FROM "
                               "runtime_checksums_values (mysql_users the same everywhere)",
                               f"through each node's port {ctx.inventory.proxysql.client_port} "
                               f"and the VIP: {user.username} logs in"]))
    changed = ", ".join(n.node for n in nodes if not n.in_step) or "no node"
    return SyncPlan(primary, user.username, nodes,
                    Plan(f"Give ProxySQL Moodle's password ({changed})", actions))


async def verify(ctx: Context, user: FrontendUser) -> None:
    inv = ctx.inventory
    seen: list[dict[str, str]] = []

    async def same_checksum() -> bool | None:
        sums = {px: (await runtime_checksums(await wizard_admin(ctx, px))).get("mysql_users", "")
                for px in inv.proxies}
        seen.append(sums)
        return True if len(set(sums.values())) == 1 and "" not in sums.values() else None

    await poll_until(same_checksum, timeout_s=LOGIN_TIMEOUT_S, interval_s=0.5,
                     what=lambda: "the nodes' mysql_users checksums differ (" + ", ".join(
                         f"{px} {v or 'none'}" for px, v in seen[-1].items()) + ")")
    for px in inv.proxies:
        local = await ctx.forward(px, "127.0.0.1", inv.proxysql.client_port)
        who = await _login(local, user, f"through ProxySQL's port {inv.proxysql.client_port} "
                                        f"on {px}")
        if who.read_only:
            raise StepError(f"{user.username} reached {who.hostname}, a read-only server, "
                            f"through {px}: check `moodle-wizard health`")
    await vip_login(ctx, deadline=time.monotonic() + LOGIN_TIMEOUT_S)


async def _login(local: tuple[str, int], user: FrontendUser, where: str) -> ServerIdentity:
    failures: list[ClientLoginFailed] = []

    async def works() -> ServerIdentity | None:
        try:
            return await client_check(local, user=user.username, password=user.password,
                                      database=user.default_schema or None, timeout=3)
        except ClientLoginFailed as exc:
            failures.append(exc)
            return None

    return await poll_until(works, timeout_s=LOGIN_TIMEOUT_S, interval_s=0.3,
                            what=lambda: f"{user.username} cannot log in {where}: "
                                         f"{failures[-1]}")


async def run_sync(ctx: Context) -> OperationReport:
    """Find the nodes out of step and give them config.php's password, journaled."""
    started = time.monotonic()
    found = await sync_plan(ctx)
    cluster = ctx.state.cluster
    for old in cluster.history:
        # A sync the wizard was killed in: it is over (this one read every node again).
        if old.kind == KIND and old.status == OperationStatus.RUNNING:
            old.status, old.last_error = OperationStatus.FAILED, "interrupted"
    if not found.changes:
        lines = [f"{n.node}: {found.user} already has config.php's password" for n in found.nodes]
        return OperationReport(KIND, found.primary, found.primary, time.monotonic() - started,
                               [*lines, "nothing to change; nothing was changed"])
    # Not the cluster's operation in flight: a sync stopped half-way must never hold up a
    # failover; it is journaled in the history as it runs, and running it again finishes it.
    op = Operation(kind=KIND, target=", ".join(found.changes), old_primary=found.primary)
    cluster.history.append(op)
    ctx.current_step = KIND
    ctx.emit(StepStarted(KIND, found.plan.title))
    ctx.save()
    try:
        for action in found.plan.actions:
            await run_journaled(ctx, op.actions, KIND, action, action.id)
    except OperatorError as exc:
        why = ctx.secrets.mask(str(exc))
        op.status, op.last_error, op.finished_at = OperationStatus.FAILED, why, now()
        ctx.save()
        ctx.emit(StepFailed(KIND, why))
        raise MigrationError(f"proxysql sync: {why}; run `{COMMAND}` again (it changes only "
                             "the nodes still out of step)") from None
    op.status, op.finished_at = OperationStatus.DONE, now()
    ctx.save()
    seconds = time.monotonic() - started
    ctx.emit(StepDone(KIND, seconds))
    lines = [f"{n.node}: {'; '.join(n.differs)} -> changed" if not n.in_step
             else f"{n.node}: already in step, left alone" for n in found.nodes]
    return OperationReport(KIND, found.primary, found.primary, seconds, [
        *lines, f"the mysql_users checksum is the same on {' and '.join(ctx.inventory.proxies)}"
        f"; {found.user} logs in through each node and the VIP"])
