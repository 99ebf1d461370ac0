"""Issue 10, item 13: `moodle-wizard finish` removes exactly the backups a rollback needed (the
paths the journal recorded, under the wizard's backup directory) and its scratch schema, only
once every step is done; it is saved as finished before the first removal, and rollback is
refused from then on. The shell that removes runs for real here, on a directory standing in for
/var/backups/moodle-wizard on the app and proxy hosts.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.context import Context
from moodle_wizard.core.engine import Engine, MigrationError
from moodle_wizard.core.facts import AppCutover, KeepalivedNode, ProxyNode
from moodle_wizard.core.finish import Finish
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.remote.ssh import Result, SshTarget
from moodle_wizard.core.secrets import SecretStore
from moodle_wizard.core.state import StepName, StepStatus, load, new_state
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.cutover import BACKUP_BASE

INVENTORY = Inventory.model_validate({
    "migration": {"name": "t"},
    "vip": {"address": "10.0.0.100", "interface": "eth0"},
    "hosts": {"db1": {"address": "10.0.0.1", "role": "source"},
              "db2": {"address": "10.0.0.2", "role": "replica"},
              "px1": {"address": "10.0.0.21", "role": "proxy"},
              "px2": {"address": "10.0.0.22", "role": "proxy"},
              "app": {"address": "10.0.0.3", "role": "app"}},
})


class Host:
    """A host whose BACKUP_BASE is a local directory; its shell commands run here."""

    def __init__(self, name: str, root: Path) -> None:
        self.target = SshTarget(name=name, address="10.0.0.9")
        self.base = root / name / "backups"
        self.base.mkdir(parents=True)

    async def run(self, argv: Sequence[str], *, check: bool = True, **_: Any) -> Result:
        local = [a.replace(BACKUP_BASE, str(self.base)) for a in argv]
        proc = subprocess.run(local, capture_output=True, text=True, timeout=30)
        return Result(proc.returncode, proc.stdout, proc.stderr)


class Db:
    """The scratch schema exists on every server until the source drops it (replicated)."""

    dropped = False

    def __init__(self) -> None:
        self.sql: list[str] = []

    async def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        self.sql.append(sql)
        if sql.startswith("DROP DATABASE"):
            Db.dropped = True
        return [{"1": 1}] if "schemata" in sql and not Db.dropped else []


def migrated(tmp_path: Path) -> tuple[Context, dict[str, Host], dict[str, Db]]:
    """A journal where every step is done, with the backups the steps recorded."""
    hosts = {n: Host(n, tmp_path) for n in ("app", "px1", "px2")}
    Db.dropped = False
    dbs = {"db1": Db(), "db2": Db()}
    secrets = SecretStore()
    state = new_state("t", "inv.toml")

    async def confirm(message: str, risky: bool) -> bool:
        return True

    ctx = Context(INVENTORY, state, tmp_path / "t.json", secrets, None,  # type: ignore[arg-type]
                  AuditLog(None, secrets), lambda e: None, confirm)

    async def host(name: str) -> Host:
        return hosts[name]

    async def db(name: str) -> Db:
        return dbs[name]

    ctx.host = host  # type: ignore[assignment,method-assign]
    ctx.db = db  # type: ignore[assignment,method-assign]
    for name in StepName:
        state.step(name).status = StepStatus.DONE
    config = f"{BACKUP_BASE}/config.php.app.20260101000000"
    (hosts["app"].base / "config.php.app.20260101000000").write_text("<?php $CFG->dbpass='x';")
    state.steps.cutover.facts.apps = {"app": AppCutover(
        path="/var/www/moodle/config.php", backup=config, mode="640",
        sha256_before="0", sha256_after="1")}
    (hosts["px1"].base / "proxysql-px1-20260101000000").mkdir()
    (hosts["px1"].base / "proxysql-px1-20260101000000" / "proxysql.db").write_text("admin")
    state.steps.proxysql.facts.nodes = {
        "px1": ProxyNode(was_running=True, backup=f"{BACKUP_BASE}/proxysql-px1-20260101000000"),
        "px2": ProxyNode(was_running=True, backup=None)}
    (hosts["px2"].base / "keepalived.conf.px2.20260101000000").write_text("auth_pass x")
    state.steps.vip.facts.nodes = {
        "px1": KeepalivedNode(conf_backup=None),
        "px2": KeepalivedNode(conf_backup=f"{BACKUP_BASE}/keepalived.conf.px2.20260101000000")}
    state.steps.prepare_source.facts.heartbeat_created = True
    state.steps.replicas.facts.moved_datadirs = {
        "db2": "/var/lib/mysql.moodle-wizard-20260101000000"}
    ctx.save()
    return ctx, hosts, dbs


def leftovers(hosts: dict[str, Host]) -> list[str]:
    return sorted(str(p.relative_to(h.base.parent.parent)) for h in hosts.values()
                  for p in h.base.parent.rglob("*"))


async def test_finish_removes_the_recorded_backups_and_the_scratch_schema(
        tmp_path: Path) -> None:
    ctx, hosts, dbs = migrated(tmp_path)
    finish = Finish(ctx)
    assert finish.problems() == []
    plan = finish.plan()
    assert len(plan.removals) == 4
    assert any("/var/lib/mysql.moodle-wizard-20260101000000 on db2" in k for k in plan.kept)
    assert any("replication" in k and "monitor" in k for k in plan.kept)
    assert len((await finish.left(plan)).removals) == 4
    await finish.run(plan)
    # Run again (finish twice, or after a crash): nothing is left to remove.
    assert (await finish.left(plan)).removals == []
    # Each backup directory is gone (emptied, then removed), nothing else was there.
    assert leftovers(hosts) == []
    assert "DROP DATABASE IF EXISTS `moodle_wizard`" in dbs["db1"].sql
    assert any("schemata" in q for q in dbs["db2"].sql)
    assert load(tmp_path / "t.json").finished_at is not None


async def test_rollback_is_refused_after_finish(tmp_path: Path) -> None:
    ctx, _, _ = migrated(tmp_path)
    finish = Finish(ctx)
    await finish.run(finish.plan())
    with pytest.raises(MigrationError, match=r"declared finished with `moodle-wizard finish`"):
        await Engine(ctx).rollback()
    assert all(s.status == StepStatus.DONE for s in ctx.state.steps.values())


async def test_finish_refuses_until_every_step_is_done(tmp_path: Path) -> None:
    ctx, hosts, _ = migrated(tmp_path)
    ctx.state.step(StepName.CUTOVER).status = StepStatus.FAILED
    problems = Finish(ctx).problems()
    assert problems and "cutover (failed) not done" in problems[0]
    assert "app/backups/config.php.app.20260101000000" in leftovers(hosts)


async def test_only_what_is_provably_the_wizards_is_removed(tmp_path: Path) -> None:
    ctx, hosts, _ = migrated(tmp_path)
    # A recorded path outside the backup directory is never removed, only named.
    ctx.state.steps.vip.facts.nodes = {
        "px2": KeepalivedNode(conf_backup=f"{BACKUP_BASE}/../../etc/keepalived/keepalived.conf")}
    plan = Finish(ctx).plan()
    assert not any("keepalived" in a.title for a in plan.removals)
    assert any("not provably the wizard's" in k for k in plan.kept)
    # A symlink planted where the backup was is left alone, with a clear error; the
    # migration is already declared finished (saved before the first removal).
    backup = hosts["app"].base / "config.php.app.20260101000000"
    backup.unlink()
    target = tmp_path / "precious"
    target.write_text("keep me")
    backup.symlink_to(target)
    with pytest.raises(StepError, match="not the file the wizard made"):
        await Finish(ctx).run(plan)
    assert backup.is_symlink() and target.read_text() == "keep me"
    assert load(tmp_path / "t.json").finished_at is not None
