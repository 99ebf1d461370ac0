"""Commands that run and render (core/command.py): what the runbook shows is what runs."""

from __future__ import annotations

import asyncio

import pytest

from moodle_wizard.core.command import (
    Secret,
    Shell,
    Sql,
    WithSecret,
    WriteFile,
    matches,
    placeholder,
    quote,
    render_all,
    runner,
)
from moodle_wizard.core.sql.dialect import Dialect
from moodle_wizard.core.sql.quoting import MASK
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.sql.version import parse_version
from tests.unit.plan_fixtures import FAKE_SECRETS, context
from tests.unit.recording import Answers, Recording

MARIADB = parse_version("10.11.6-MariaDB-0+deb12u1", "mariadb")
MYSQL = parse_version("8.0.36", "mysql")


def recording(monkeypatch: pytest.MonkeyPatch, flavour: str = "mariadb-10.11") -> Recording:
    ctx = context(flavour, monkeypatch)
    rec = Recording(ctx, MARIADB if flavour.startswith("mariadb") else MYSQL, Answers())
    rec.install(monkeypatch)
    return rec


def test_shell_renders_its_argv_quoted_and_a_script_as_itself() -> None:
    assert Shell("db1", ("rm", "-f", "/etc/my file")).render() == "on db1: rm -f '/etc/my file'"
    assert Shell.sh("px1", "rmdir /x 2>/dev/null || true").render() == \
        "on px1: rmdir /x 2>/dev/null || true"
    assert Shell("db1", ("service", "mariadb", "stop"), note="if it runs").render() == \
        "on db1: service mariadb stop  # if it runs"


def test_a_secret_goes_on_stdin_and_is_shown_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = recording(monkeypatch)
    cmd = Shell("db1", ("chpasswd",), stdin=Secret("replication_password"))
    assert cmd.render() == f"on db1: chpasswd <<< '{MASK}'"
    asyncio.run(cmd.run(rec.ctx))
    assert [r.line for r in rec.ran] == [cmd.render()]


def test_a_secret_on_a_command_line_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = recording(monkeypatch)
    secret = rec.ctx.secrets.get("replication_password")
    cmd = Shell("db1", ("echo", secret))
    with pytest.raises(ValueError, match="a secret in the command line") as caught:
        asyncio.run(cmd.run(rec.ctx))
    assert secret not in str(caught.value)
    assert rec.ran == []


def test_sql_runs_its_statement_and_renders_its_masked_form(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rec = recording(monkeypatch)
    stmt = Dialect(MARIADB).drop_user("mw_repl", "10.77.0.12")
    cmd = Sql("db1", stmt)
    assert cmd.render() == "on db1: DROP USER IF EXISTS 'mw_repl'@'10.77.0.12'"

    async def action_run() -> None:  # what an Action's run does
        await runner(rec.ctx, [cmd])()

    asyncio.run(action_run())
    assert [r.line for r in rec.changes()] == [cmd.render()]


@pytest.mark.parametrize("version", [MARIADB, MYSQL], ids=["mariadb", "mysql"])
def test_with_secret_builds_the_same_command_with_the_real_value(
        monkeypatch: pytest.MonkeyPatch, version: object) -> None:
    """The runbook's line is the built command with MASK; what runs is built by the same
    function with the secret, and shows (masked) as the same line."""
    rec = recording(monkeypatch, "mariadb-10.11" if version is MARIADB else "mysql-8.0")
    d = Dialect(version)  # type: ignore[arg-type]

    def create(password: str) -> Sql:
        return Sql("db1", d.create_user("mw_repl", "10.77.0.12", password))

    cmd = WithSecret(Secret("replication_password"), create)
    planned = cmd.render()
    assert MASK in planned and FAKE_SECRETS["replication_password"] not in planned
    asyncio.run(cmd.run(rec.ctx))
    assert [r.line for r in rec.changes()] == [planned]
    assert cmd.host == "db1"


def test_write_file_renders_path_mode_and_content(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = recording(monkeypatch)
    cmd = WriteFile("px1", "/etc/keepalived/check.sh", "#!/bin/sh\nexit 0\n", 0o755)
    assert render_all([cmd]) == ["on px1: write /etc/keepalived/check.sh (mode 0755):\n"
                                 "#!/bin/sh\nexit 0\n"]
    asyncio.run(cmd.run(rec.ctx))
    assert [r.line for r in rec.changes()] == render_all([cmd])


def test_a_generated_secret_is_generated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = recording(monkeypatch)
    calls: list[int] = []

    def make() -> str:
        calls.append(1)
        return "Gen3rated"

    monkeypatch.setattr(rec.ctx.secrets, "generated", lambda name, gen: gen())
    secret = Secret("keepalived_auth_pass", make)
    assert asyncio.run(secret.value(rec.ctx)) == "Gen3rated" and calls == [1]


def test_placeholders_match_any_text_and_nothing_else() -> None:
    gtid = placeholder("gtid from the backup")
    planned = Sql("db2", Statement("SET GLOBAL gtid_slave_pos = %s", (gtid,))).render()
    assert matches(planned, "on db2: SET GLOBAL gtid_slave_pos = '0-1-42'")
    assert not matches(planned, "on db3: SET GLOBAL gtid_slave_pos = '0-1-42'")
    assert not matches(planned, "on db2: SET GLOBAL gtid_purged = '0-1-42'")
    # A shell redirection is text, not a placeholder.
    assert not matches("on px1: rmdir /x 2>/dev/null || true", "on px1: rmdir /x 2/dev/null")
    with pytest.raises(ValueError):
        placeholder("a<b")


def test_a_planned_path_with_a_placeholder_reads_as_the_run_time_path() -> None:
    stamp = placeholder("time")
    planned = Shell("px1", ("cp", "-a", "--", "/etc/a.conf", f"/var/backups/a.conf.{stamp}"))
    ran = Shell("px1", ("cp", "-a", "--", "/etc/a.conf", "/var/backups/a.conf.20261201"))
    assert planned.render() == "on px1: cp -a -- /etc/a.conf /var/backups/a.conf.<time>"
    assert matches(planned.render(), ran.render())
    assert quote("/a b") == "'/a b'" and quote("<time> x") == "'<time> x'"


def test_a_note_is_a_comment_that_matching_leaves_aside() -> None:
    planned = Sql("db2", Statement("STOP SLAVE"), note="if it runs here").render()
    assert planned == "on db2: STOP SLAVE  # if it runs here"
    assert matches(planned, Sql("db2", Statement("STOP SLAVE")).render())
    assert not matches(planned, Sql("db2", Statement("STOP REPLICA")).render())
    write = WriteFile("px1", "/etc/x", "a\nb  # kept\n", note="only if missing").render()
    assert write == "on px1: write /etc/x (mode 0644):  # only if missing\na\nb  # kept\n"
    assert matches(write, WriteFile("px1", "/etc/x", "a\nb  # kept\n").render())
    assert not matches(write, WriteFile("px1", "/etc/x", "a\nb\n").render())


def test_a_multi_line_script_starts_on_its_own_line_after_the_note() -> None:
    planned = Shell("px1", ("sh", "-c", "a\nb", "sh", placeholder("its pids")), note="late")
    assert planned.render() == "on px1:  # late\nsh -c 'a\nb' sh <its pids>"
    assert matches(planned.render(), Shell("px1", ("sh", "-c", "a\nb", "sh", "42")).render())
