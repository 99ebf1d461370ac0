"""The replicas step's refusals before it seeds from an existing backup (existing.problems):
each one line naming the problem and the fix, before anything changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from moodle_wizard.core.steps.replicas import existing
from tests.unit.plan_fixtures import context
from tests.unit.test_existing_plan_golden import existing as existing_edit


class BackupHost:
    def __init__(self, missing: str = "") -> None:
        self.missing, self.ran = missing, []

    async def run(self, argv: list[str], check: bool = True) -> Any:
        self.ran.append(argv)
        return SimpleNamespace(stdout=self.missing, exit_status=0)


def problems_of(monkeypatch: pytest.MonkeyPatch, kind: str = "directory", missing: str = "",
                **changes: Any) -> list[tuple[str, str]]:
    ctx = context("mariadb-10.11", monkeypatch, edit=existing_edit(kind))
    discovered = ctx.discovered
    backup = discovered.backup
    assert backup is not None
    for key, value in changes.items():
        if key in ("log_bin", "version"):
            setattr(discovered.source, key, value)
        else:
            setattr(backup, key, value)
    host = BackupHost(missing)

    async def on(name: str) -> BackupHost:
        assert name == "backup"
        return host

    monkeypatch.setattr(ctx, "host", on)
    import asyncio
    found = asyncio.run(existing.problems(ctx, discovered))
    return [(p.level, p.message) for p in found]


def test_a_fresh_reachable_backup_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems_of(monkeypatch, taken_at=datetime.now(UTC) - timedelta(hours=8)) == []


def test_binlog_off_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    [(level, message)] = problems_of(monkeypatch, log_bin=False)
    assert level == "error" and message.startswith("db1's binary log is off: a replica seeded")


def test_binlogs_purged_past_the_backup_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    [(level, message)] = problems_of(monkeypatch, binlogs_reach=False, binlogs_start="0-1-5230")
    assert level == "error"
    assert message == ("db1's binary logs start after 0-1-5230, but the backup at "
                       "backup:/srv/backups/moodle/nightly is at 0-1-4100: a replica seeded "
                       "from it could never catch up; take a new backup, or seed with "
                       'backup_method = "physical"')


def test_a_physical_backup_of_another_version_is_refused_a_dump_is_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    recent = datetime.now(UTC) - timedelta(hours=8)
    found = problems_of(monkeypatch, server_version="10.6.18-MariaDB", taken_at=recent)
    assert [lvl for lvl, _ in found] == ["error"]
    assert "is of server 10.6.18-MariaDB, db1 runs 10.11" in found[0][1]
    assert problems_of(monkeypatch, "dump", server_version="10.6.18-MariaDB",
                       taken_at=recent) == []


def test_missing_tools_on_the_backup_host_and_an_old_backup_are_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    found = problems_of(monkeypatch, "dump", missing="ssh\ngzip\n",
                        taken_at=datetime.now(UTC) - timedelta(days=5))
    assert found == [
        ("error", "backup: ssh, gzip not found; the seed job runs them there (install "
                  "openssh-client, or the tool, on it)"),
        ("warning", "the backup at backup:/srv/backups/moodle/nightly.sql.gz is 5 days old: "
                    "each replica replays 5 days of db1's binary log after it is restored")]


def test_discoverys_own_line_is_used_when_it_knows_the_case(
        monkeypatch: pytest.MonkeyPatch) -> None:
    line = "the backup at backup:/b is of another server (server_id 7 never wrote to db1)"
    [(level, message)] = problems_of(monkeypatch, binlogs_reach=False, binlogs_problem=line)
    assert (level, message) == ("error", line)
