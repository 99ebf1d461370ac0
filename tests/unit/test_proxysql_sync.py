"""`moodle-wizard proxysql sync` without hosts: the statements are the proxysql step's own for
Moodle's user, a node's rows compared by equality (never a password shown), the refusals
before anything changes, only the nodes out of step changed and the run journaled, nothing
changed when nothing differs, and the command line."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from moodle_wizard.cli import build_parser
from moodle_wizard.core.context import Context
from moodle_wizard.core.engine import MigrationError
from moodle_wizard.core.errors import StepError
from moodle_wizard.core.operate import sync
from moodle_wizard.core.operate.operation import OperationRefused
from moodle_wizard.core.operate.record import OperationKind, OperationStatus
from moodle_wizard.core.operate.sync_rows import node_state, password_matches, user_statements
from moodle_wizard.core.remote.client import ClientLoginFailed
from moodle_wizard.core.render.proxysql import (
    Backend,
    FrontendUser,
    ProxySqlConfig,
    mysql_statements,
)
from moodle_wizard.core.sql.quoting import MASK
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.state import StepName, StepStatus
from moodle_wizard.core.steps import proxysql_admin
from tests.unit.plan_fixtures import context

NEW = "N3w-Moodle'Pass w0rd"
OLD = "FakeMoodleDbPassZq9"
USER = FrontendUser("moodleuser", NEW, 10, "moodle")
# mysql_native_password's form of NEW, as a ProxySQL that hashes passwords shows it.
NATIVE_NEW = "*" + hashlib.sha1(hashlib.sha1(NEW.encode()).digest()).hexdigest().upper()


def _cfg(users: tuple[FrontendUser, ...]) -> ProxySqlConfig:
    return ProxySqlConfig(
        writer_hostgroup=10, reader_hostgroup=20,
        servers=(Backend(10, "10.77.0.11", 3306), Backend(20, "10.77.0.12", 3306)),
        users=users, monitor_user="mw_monitor", monitor_password="m", server_version="10.11.6",
        admin_user="mw_admin", admin_password="a")


def test_the_statements_are_the_proxysql_steps_own_for_moodles_user() -> None:
    """Held equal to what mysql_statements writes for Moodle's user: if the proxysql step
    changes its users part, this fails until sync writes the same."""
    step = [s for s in mysql_statements(_cfg((USER,)))
            if "mysql_users" in s.sql or s.sql.endswith("MYSQL USERS TO RUNTIME")
            or s.sql.endswith("MYSQL USERS TO DISK")]
    assert user_statements(USER) == step
    shown = "\n".join(s.display() for s in user_statements(USER))
    assert NEW not in shown and MASK in shown
    assert shown.splitlines()[-2:] == ["LOAD MYSQL USERS TO RUNTIME", "SAVE MYSQL USERS TO DISK"]
    # Without a schema, as the step writes NULL.
    no_schema = FrontendUser("moodleuser", NEW, 10, None)
    inserts = [s for s in mysql_statements(_cfg((no_schema,)))
               if s.sql.startswith("INSERT INTO mysql_users")]
    assert user_statements(no_schema)[1] == inserts[0]


def _row(password: str, **over: Any) -> dict[str, Any]:
    return {"username": "moodleuser", "password": password, "active": 1, "default_hostgroup": 10,
            "default_schema": "moodle", "transaction_persistent": 1, **over}


def test_a_node_in_step_cleartext_or_hashed_at_runtime() -> None:
    assert password_matches(NEW, NEW) and password_matches(NATIVE_NEW, NEW)
    assert not password_matches(OLD, NEW) and not password_matches(None, NEW)
    # Real ProxySQL keeps the cleartext at runtime; the stand-in shows the hash, and splits
    # the runtime user into a frontend and a backend row.
    for runtime in ([_row(NEW)], [_row(NATIVE_NEW), _row(NATIVE_NEW)]):
        state = node_state("px1", USER, {"mysql_users": [_row(NEW)],
                                         "runtime_mysql_users": runtime})
        assert state.in_step and state.differs == ()


def test_what_differs_is_named_never_the_password() -> None:
    state = node_state("px2", USER, {"mysql_users": [_row(OLD)],
                                     "runtime_mysql_users": [_row(OLD, default_hostgroup=20)]})
    assert state.differs == ("mysql_users: another password",
                             "runtime_mysql_users: another password",
                             "runtime_mysql_users: default_hostgroup 20, not 10")
    assert not [d for d in state.differs if OLD in d or NEW in d]
    missing = node_state("px1", USER, {"mysql_users": [], "runtime_mysql_users": [_row(NEW)]})
    assert missing.differs == ("mysql_users: no row for moodleuser",)
    memory_only = node_state("px1", USER, {"mysql_users": [_row(NEW)],
                                           "runtime_mysql_users": [_row(OLD)]})
    assert memory_only.differs == ("runtime_mysql_users: another password",)


def _migrated(monkeypatch: pytest.MonkeyPatch) -> Context:
    ctx = context("mariadb-10.11", monkeypatch)
    for step in StepName:
        ctx.state.step(step).status = StepStatus.DONE
    return ctx


@pytest.mark.parametrize("not_done", [StepName.PROXYSQL, StepName.CUTOVER])
def test_refused_before_proxysql_and_cutover(monkeypatch: pytest.MonkeyPatch,
                                             not_done: StepName) -> None:
    ctx = _migrated(monkeypatch)
    ctx.state.step(not_done).status = StepStatus.PENDING
    with pytest.raises(OperationRefused, match=f"the migration's {not_done} step is not done"
                                               r".*nothing was changed"):
        asyncio.run(sync.run_sync(ctx))


def _config_php(monkeypatch: pytest.MonkeyPatch, ctx: Context, **cfg: Any) -> None:
    async def host(name: str) -> str:
        return name

    async def read(host: str, path: str) -> dict[str, Any]:
        return {"dbuser": "moodleuser", "dbpass": NEW, "dboptions": {}, **cfg}

    monkeypatch.setattr(ctx, "host", host)
    monkeypatch.setattr(sync, "read_moodle_config", read)


def test_config_php_read_again_and_its_password_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _migrated(monkeypatch)
    _config_php(monkeypatch, ctx)
    user = asyncio.run(sync.read_config(ctx))
    assert (user.username, user.password, user.hostgroup) == ("moodleuser", NEW, 10)
    assert ctx.secrets.mask(f"x {NEW} y") == f"x {MASK} y"
    assert asyncio.run(ctx.moodle_password()) == NEW  # the VIP check logs in with the new one


def test_another_user_in_config_php_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _migrated(monkeypatch)
    _config_php(monkeypatch, ctx, dbuser="moodle2")
    with pytest.raises(OperationRefused, match=r"names the database user 'moodle2', ProxySQL "
                                               r"routes 'moodleuser'.*nothing was changed"):
        asyncio.run(sync.read_config(ctx))


def test_a_password_the_primary_refuses_is_refused_before_any_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _migrated(monkeypatch)

    async def forward(name: str, address: str, port: int) -> tuple[str, int]:
        return ("127.0.0.1", 1)

    async def refused(local: tuple[str, int], **kw: Any) -> None:
        raise ClientLoginFailed(f"Access denied for user 'moodle'@'10.77.0.21' (using password: "
                                f"YES) {kw['password']}", 1045)

    monkeypatch.setattr(ctx, "forward", forward)
    monkeypatch.setattr(sync, "client_check", refused)
    with pytest.raises(OperationRefused) as caught:
        asyncio.run(sync.check_primary_login(ctx, USER, "db1"))
    text = str(caught.value)
    assert text.startswith("proxysql sync: moodleuser cannot log in to the primary db1 from px1")
    assert "Access denied" in text and text.endswith("nothing was changed")
    assert "\n" not in text


class FakeAdmin:
    def __init__(self, name: str, ran: list[tuple[str, str, str]]) -> None:
        self.name, self.ran = name, ran

    async def run(self, stmt: Statement) -> list[dict[str, Any]]:
        self.ran.append((self.name, stmt.display(), stmt.sql))
        return []


def _fake_cluster(monkeypatch: pytest.MonkeyPatch, ctx: Context, in_step: set[str],
                  verified: list[str], fail_verify: bool = False) -> list[tuple[str, str, str]]:
    ran: list[tuple[str, str, str]] = []
    _config_php(monkeypatch, ctx)

    async def primary_ok(ctx: Context, user: FrontendUser, primary: str) -> None:
        assert primary == "db1"

    async def states(ctx: Context, user: FrontendUser) -> list[Any]:
        rows = {px: [_row(NEW if px in in_step else OLD)] for px in ctx.inventory.proxies}
        return [node_state(px, user, {"mysql_users": rows[px], "runtime_mysql_users": rows[px]})
                for px in ctx.inventory.proxies]

    async def verify(ctx: Context, user: FrontendUser) -> None:
        verified.append(user.password)
        if fail_verify:
            raise StepError("the nodes' mysql_users checksums differ (px1 0x1, px2 0x2)")

    async def admin(ctx: Context, px: str) -> FakeAdmin:
        return FakeAdmin(px, ran)

    monkeypatch.setattr(sync, "check_primary_login", primary_ok)
    monkeypatch.setattr(sync, "node_states", states)
    monkeypatch.setattr(sync, "verify", verify)
    monkeypatch.setattr(proxysql_admin, "wizard_admin", admin)
    return ran


def test_every_node_is_staged_before_any_node_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ProxySQL Cluster on, a node pulls another's users a few seconds after a LOAD there
    and rewrites its whole MEMORY table: all the DELETE/INSERTs come before the first LOAD,
    so a pull never falls between one of them and the other."""
    ctx = _migrated(monkeypatch)
    ran = _fake_cluster(monkeypatch, ctx, set(), [])
    asyncio.run(sync.run_sync(ctx))
    assert [(name, sql.split(" (")[0]) for name, _, sql in ran] == [
        ("px1", "DELETE FROM mysql_users WHERE username IN"), ("px1", "INSERT INTO mysql_users"),
        ("px2", "DELETE FROM mysql_users WHERE username IN"), ("px2", "INSERT INTO mysql_users"),
        ("px1", "LOAD MYSQL USERS TO RUNTIME"), ("px1", "SAVE MYSQL USERS TO DISK"),
        ("px2", "LOAD MYSQL USERS TO RUNTIME"), ("px2", "SAVE MYSQL USERS TO DISK")]
    assert [a.id for a in ctx.state.cluster.history[-1].actions] == [
        "users:px1", "users:px2", "load:px1", "load:px2", "verify"]


def test_only_the_nodes_out_of_step_change_and_the_run_is_journaled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _migrated(monkeypatch)
    verified: list[str] = []
    ran = _fake_cluster(monkeypatch, ctx, {"px2"}, verified)
    report = asyncio.run(sync.run_sync(ctx))
    assert {name for name, _, _ in ran} == {"px1"}
    assert [sql.split(" (")[0] for _, _, sql in ran] == [
        "DELETE FROM mysql_users WHERE username IN", "INSERT INTO mysql_users",
        "LOAD MYSQL USERS TO RUNTIME", "SAVE MYSQL USERS TO DISK"]
    assert not [d for _, d, _ in ran if NEW in d]
    assert verified == [NEW]
    op = ctx.state.cluster.history[-1]
    assert (op.kind, op.target, op.status) == (OperationKind.SYNC, "px1", OperationStatus.DONE)
    assert [(a.id, a.status) for a in op.actions] == [
        ("users:px1", "done"), ("load:px1", "done"), ("verify", "done")]
    assert ctx.state.cluster.operation is None
    assert report.lines[0] == "px1: mysql_users: another password; runtime_mysql_users: " \
                              "another password -> changed"
    assert report.lines[1] == "px2: already in step, left alone"


def test_nothing_to_change_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _migrated(monkeypatch)
    verified: list[str] = []
    ran = _fake_cluster(monkeypatch, ctx, {"px1", "px2"}, verified)
    report = asyncio.run(sync.run_sync(ctx))
    assert ran == [] and verified == [] and ctx.state.cluster.history == []
    assert report.lines[-1] == "nothing to change; nothing was changed"


def test_a_failed_sync_is_journaled_failed_and_holds_up_no_operation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _migrated(monkeypatch)
    _fake_cluster(monkeypatch, ctx, set(), [], fail_verify=True)
    with pytest.raises(MigrationError, match=r"checksums differ.*run `moodle-wizard proxysql "
                                             r"sync` again"):
        asyncio.run(sync.run_sync(ctx))
    op = ctx.state.cluster.history[-1]
    assert (op.status, op.target) == (OperationStatus.FAILED, "px1, px2")
    assert op.last_error is not None and "checksums differ" in op.last_error
    assert ctx.state.cluster.operation is None


def test_the_plan_shows_the_statements_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _migrated(monkeypatch)
    _fake_cluster(monkeypatch, ctx, {"px1"}, [])
    found = asyncio.run(sync.sync_plan(ctx))
    assert found.changes == ["px2"]
    lines = [line for a in found.plan.actions for line in a.runbook]
    assert lines[1].startswith("on px2, ProxySQL admin: INSERT INTO mysql_users")
    assert f"'{MASK}'" in lines[1] and not [line for line in lines if NEW in line]


def test_the_command_line() -> None:
    args = build_parser().parse_args(["proxysql", "sync", "--plan", "--migration", "m1"])
    assert (args.command, args.proxysql_command, args.plan, args.migration) == (
        "proxysql", "sync", True, "m1")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["proxysql"])


def test_plan_prints_what_each_node_lacks_and_changes_nothing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from moodle_wizard.operate_cli import cmd_operate

    ctx = _migrated(monkeypatch)
    ran = _fake_cluster(monkeypatch, ctx, {"px1"}, [])
    args = build_parser().parse_args(["proxysql", "sync", "--plan"])
    assert asyncio.run(cmd_operate(args, ctx)) == 0
    out = capsys.readouterr().out
    assert out.startswith("px1: moodleuser already has config.php's password\n"
                          "px2: mysql_users: another password; runtime_mysql_users: another "
                          "password\nGive ProxySQL Moodle's password (px2):\n")
    assert "on px2, ProxySQL admin: LOAD MYSQL USERS TO RUNTIME" in out
    assert NEW not in out and ran == [] and ctx.state.cluster.history == []
    _fake_cluster(monkeypatch, ctx, {"px1", "px2"}, [])
    assert asyncio.run(cmd_operate(args, ctx)) == 0
    assert capsys.readouterr().out.endswith("nothing to change\n")
