"""`moodle-wizard finish`: the operator declares the migration complete.

Until then every step keeps what its rollback needs. Some of that holds secrets (config.php's
original with Moodle's password, ProxySQL's old config databases with their admin
credentials, keepalived.conf with its auth_pass), and the wizard's scratch schema stays on
every database server. `finish` removes exactly those, and only what the journal proves the
wizard made itself (each path recorded in the state, under its backup directory), once every
step is done. The cluster stays as it is.

Not removed, because the running cluster needs them: the replication users (the replicas log
in with them), the ProxySQL monitor users (its read_only monitor), the Moodle user's accounts
for the proxy hosts (Moodle reaches the database through ProxySQL), the read-only user
(Moodle's safe reads), the ProxySQL admin user and the generated-secrets file next to the
state (managing ProxySQL and `drill vip`), the source's binary-log settings. A replica's
datadir that was moved aside is the operator's data: named, never removed.

`finished_at` is saved in the state before the first removal: from then on rollback is
refused (what it would restore from is going), and `finish` run again only re-checks and
removes what is left. Every removal is idempotent.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from moodle_wizard.core.context import Context
from moodle_wizard.core.events import ActionStarted
from moodle_wizard.core.operate.topology import topology
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.state import MigrationState, StepStatus
from moodle_wizard.core.steps.base import Action, StepError
from moodle_wizard.core.steps.cutover import BACKUP_BASE
from moodle_wizard.core.steps.prepare_source import HEARTBEAT_DB
from moodle_wizard.core.steps.registry import implemented

FINISH = "finish"
# How long the scratch schema's DROP may take to reach every replica.
REPLICATION_WAIT_S = 30.0


def rollback_refusal(state: MigrationState) -> str | None:
    """Why rollback is refused (the migration was declared finished, or the cluster's
    primary is no longer the source), or None."""
    cluster = state.cluster
    if cluster.operation is not None:
        op = cluster.operation
        return (f"a {op.kind} to {op.target} is in flight ({op.status}): finish it first "
                f"(run `{op.continue_command()}` again)")
    if cluster.fenced:
        return (f"{' and '.join(cluster.fenced)} was fenced by a failover: the migration's "
                "rollback puts the source back as the only server, and the source's data is "
                f"not the cluster's now; rejoin it (`moodle-wizard rejoin {cluster.fenced[0]}`) "
                "and switch over to it first")
    if cluster.primary is not None:
        return (f"the primary is now {cluster.primary}, not the migration's source: the "
                "rollback would put Moodle back on a server without the writes made since; "
                "switch back first (`moodle-wizard switchover --to <the source>`)")
    if state.finished_at is None:
        return None
    return (f"migration {state.migration_id} was declared finished with `moodle-wizard "
            f"finish` at {state.finished_at:%Y-%m-%d %H:%M:%S} UTC: the backups a rollback "
            "restores from are removed, so the wizard no longer rolls it back. The cluster is "
            "yours now; to go back, restore config.php and the database setup from your own "
            "backups")


@dataclass
class FinishPlan:
    removals: list[Action] = field(default_factory=list)
    # What stays, and why (shown with the plan).
    kept: list[str] = field(default_factory=list)


def _ours(path: Any) -> str | None:
    """A recorded backup path, only if it is one the wizard makes: directly under its backup
    base, no `..`, no other directory."""
    if not isinstance(path, str) or not path:
        return None
    normal = posixpath.normpath(path)
    if normal != path or posixpath.dirname(normal) != BACKUP_BASE:
        return None
    return normal


class Finish:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def problems(self) -> list[str]:
        """Why finish must not run now (nothing has changed yet)."""
        state = self.ctx.state
        left = [f"{name} ({state.step(name).status})" for name in implemented()
                if state.step(name).status != StepStatus.DONE]
        if left:
            return [f"the migration is not complete: {', '.join(left)} not done. Finish it "
                    "(`moodle-wizard resume`) or roll it back (`moodle-wizard rollback`); "
                    "finish removes what a rollback needs, so it runs only after every step"]
        op = state.cluster.operation
        if op is not None:
            return [f"a {op.kind} to {op.target} is in flight ({op.status}): finish it first "
                    f"(run `{op.continue_command()}` again)"]
        return []

    def _servers(self) -> tuple[str, tuple[str, ...]]:
        """The primary now (a switchover or failover may have moved it) and the replicas
        that serve (a fenced old primary is not written to or waited for)."""
        topo = topology(self.ctx.inventory, self.ctx.state.cluster)
        return topo.primary, topo.replicas

    def plan(self) -> FinishPlan:
        plan = FinishPlan()
        steps = self.ctx.state.steps
        for app, f in steps.cutover.facts.apps.items():
            self._file(plan, app, f.backup, f"config.php's original on {app} "
                       "(it holds Moodle's database password)")
        for px, node in steps.proxysql.facts.nodes.items():
            self._dir(plan, px, node.backup, f"ProxySQL's config databases from before "
                      f"the migration on {px} (they hold its old admin credentials)")
        for px, vnode in steps.vip.facts.nodes.items():
            self._file(plan, px, vnode.conf_backup, f"keepalived.conf from before the "
                       f"migration on {px} (it may hold an auth_pass)")
        # On the primary only: written on a replica, it would be a transaction the primary
        # lacks (errant), in the way of every later switchover.
        src, replicas = self._servers()
        if steps.prepare_source.facts.heartbeat_created:
            plan.removals.append(Action(
                "scratch-schema", f"Drop the wizard's scratch schema {HEARTBEAT_DB} (replication "
                "markers; replicated to every replica)", self.drop_scratch,
                [f"on {src}: DROP DATABASE IF EXISTS `{HEARTBEAT_DB}`; then on "
                 f"{', '.join(replicas)}: wait until it is gone"],
                done=self.scratch_gone, host=src))
        plan.kept += [
            "the replication, ProxySQL monitor, read-only and Moodle-from-proxy accounts on "
            f"{src}: the running cluster logs in with them",
            "the ProxySQL admin user and the generated-secrets file next to the state: they "
            "manage ProxySQL (and `moodle-wizard drill vip`)",
            "the binary-log settings on the source and every replica's configuration",
            "the state file and the audit log (the migration's record; they hold no secret)",
        ]
        for host, aside in steps.replicas.facts.moved_datadirs.items():
            plan.kept.append(f"{aside} on {host}: that host's datadir from before the "
                             "migration, yours; remove it yourself when you are sure")
        return plan

    def _file(self, plan: FinishPlan, host: str, path: str | None, what: str) -> None:
        self._backup(plan, host, path, what, directory=False)

    def _dir(self, plan: FinishPlan, host: str, path: str | None, what: str) -> None:
        self._backup(plan, host, path, what, directory=True)

    def _backup(self, plan: FinishPlan, host: str, path: str | None, what: str, *,
                directory: bool) -> None:
        ours = _ours(path)
        if ours is None:
            if path:
                plan.kept.append(f"{path} on {host}: not under {BACKUP_BASE}, so not provably "
                                 "the wizard's; remove it yourself")
            return
        how = (f"rm -rf -- {shlex.quote(ours)} (a directory, not a symlink)" if directory
               else f"rm -f -- {shlex.quote(ours)}")
        plan.removals.append(Action(
            f"remove:{host}:{posixpath.basename(ours)}", f"Remove {what}",
            partial(self.remove, host, ours, directory),
            [f"on {host}: {how}; rmdir {BACKUP_BASE} if empty"],
            done=partial(self.gone, host, ours), host=host))

    # -- the removals -----------------------------------------------------------------------

    async def remove(self, name: str, path: str, directory: bool) -> None:
        host = await self.ctx.host(name)
        kind = "-d" if directory else "-f"
        # Exactly what was recorded: a symlink or another kind of file there now is not ours.
        script = (f'[ -e "$1" ] || [ -L "$1" ] || exit 0; '
                  f'if [ -L "$1" ] || [ ! {kind} "$1" ]; then echo "not ours: $1"; exit 3; fi; '
                  f'rm -{"rf" if directory else "f"} -- "$1"; rmdir -- "$2" 2>/dev/null; exit 0')
        result = await host.run(["sh", "-c", script, "sh", path, BACKUP_BASE], check=False)
        if result.exit_status != 0:
            raise StepError(f"{name}: {path} is not the {'directory' if directory else 'file'} "
                            "the wizard made there (a symlink or another kind of file); it "
                            "was left alone: check it and remove it yourself")
        if not await self.gone(name, path):
            raise StepError(f"{name}: {path} is still there after removing it")

    async def gone(self, name: str, path: str) -> bool:
        host = await self.ctx.host(name)
        result = await host.run(["sh", "-c", '[ ! -e "$1" ] && [ ! -L "$1" ]', "sh", path],
                                check=False)
        return result.exit_status == 0

    async def scratch_gone(self) -> bool:
        primary, replicas = self._servers()
        for name in (primary, *replicas):
            db = await self.ctx.db(name)
            if await db.query("SELECT 1 FROM information_schema.schemata WHERE "
                              "schema_name = %s", (HEARTBEAT_DB,)):
                return False
        return True

    async def drop_scratch(self) -> None:
        primary, replicas = self._servers()
        source = await self.ctx.db(primary)
        await source.query(f"DROP DATABASE IF EXISTS `{HEARTBEAT_DB}`")
        for replica in replicas:
            db = await self.ctx.db(replica)

            async def gone(db: Any = db) -> bool | None:
                there = await db.query("SELECT 1 FROM information_schema.schemata WHERE "
                                       "schema_name = %s", (HEARTBEAT_DB,))
                return None if there else True

            await poll_until(gone, timeout_s=REPLICATION_WAIT_S, interval_s=0.2,
                             what=f"{replica}: {HEARTBEAT_DB} is still there "
                                  f"{REPLICATION_WAIT_S:.0f} s after it was dropped on "
                                  f"{primary}: check replication on {replica}")

    async def run(self, plan: FinishPlan) -> None:
        """Declare the migration finished (saved first), then remove everything in `plan`."""
        state = self.ctx.state
        if state.finished_at is None:
            state.finished_at = datetime.now(UTC)
            self.ctx.save()
            self.ctx.audit.record("wizard", FINISH, "the operator declared the migration "
                                  "finished; rollback is no longer offered")
        for action in plan.removals:
            self.ctx.emit(ActionStarted(FINISH, action.id, action.title))
            await action.run()
            self.ctx.audit.record("wizard", "action done", f"{FINISH}/{action.id}")

    async def left(self, plan: FinishPlan) -> FinishPlan:
        """`plan` without what is already gone (finish run again after a crash or twice)."""
        removals = [a for a in plan.removals if a.done is None or not await a.done()]
        return FinishPlan(removals, plan.kept)
