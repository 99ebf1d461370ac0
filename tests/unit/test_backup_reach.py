"""core/backups/reach.py: whether the source's binary logs still reach back to a backup, with a
fake source that answers exactly the statements sent (rows as MariaDB 10.11 gives them), and
what discovery tells the operator of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.backups import reach, summary
from moodle_wizard.core.backups.formats import BinlogCoordinates
from moodle_wizard.core.errors import StepError
from moodle_wizard.core.events import Event, OutputLine
from moodle_wizard.core.facts.backup import BackupKind, ExistingBackup
from moodle_wizard.core.sql.gtid import parse_position, parse_state
from moodle_wizard.core.sql.statement import Statement
from moodle_wizard.core.steps.discover import Discover
from tests.unit.plan_fixtures import context
from tests.unit.test_backup_inspect import LocalHost, backup_dir

WHERE = "backup1:/srv/backups/nightly"
AT = BinlogCoordinates("mysql-bin.000002", 1234, "0-1-4100")


def binlog_events(gtid_list: str) -> list[dict[str, Any]]:
    """SHOW BINLOG EVENTS IN '...' LIMIT 3 of a binlog file, as MariaDB 10.11 shows it."""
    return [
        {"Log_name": "mysql-bin.000007", "Pos": 4, "Event_type": "Format_desc", "Server_id": 1,
         "End_log_pos": 256, "Info": "Server ver: 10.11.19-MariaDB-deb12-log, Binlog ver: 4"},
        {"Log_name": "mysql-bin.000007", "Pos": 256, "Event_type": "Gtid_list", "Server_id": 1,
         "End_log_pos": 299, "Info": f"[{gtid_list}]"},
        {"Log_name": "mysql-bin.000007", "Pos": 299, "Event_type": "Binlog_checkpoint",
         "Server_id": 1, "End_log_pos": 342, "Info": "mysql-bin.000007"},
    ]


class FakeSource:
    """Answers exactly the statements reach.py sends; anything else fails the test."""

    host_name = "db1"

    def __init__(self, *, log_bin: int = 1, state: str = "0-1-9000",
                 logs: tuple[str, ...] = ("mysql-bin.000007", "mysql-bin.000008"),
                 gtid_list: str = "0-1-3000", binlog_gtid_pos: str | None = None) -> None:
        self.sent: list[Statement] = []
        self.answers: dict[tuple[str, tuple[Any, ...]], list[dict[str, Any]]] = {
            (reach.LOG_BIN.sql, ()): [{"b": log_bin, "s": state}],
            (reach.SHOW_BINARY_LOGS.sql, ()): [{"Log_name": n, "File_size": 1000}
                                               for n in logs],
        }
        if logs:
            self.answers[(reach.first_binlog_statement(logs[0]).sql, (logs[0],))] = \
                binlog_events(gtid_list)
        self.answers[(reach.gtid_from_file_statement(AT).sql, (AT.file, AT.pos))] = [
            {"g": binlog_gtid_pos}]

    async def run(self, stmt: Statement) -> list[dict[str, Any]]:
        self.sent.append(stmt)
        key = (stmt.sql, tuple(stmt.args or ()))
        assert key in self.answers, f"unexpected statement: {stmt.display()}"
        return self.answers[key]


async def check(db: FakeSource, at: BinlogCoordinates = AT) -> reach.Reach:
    return await reach.check_reach(db, "db1", WHERE, at)


async def test_reaches_when_the_logs_begin_before_the_backup() -> None:
    db = FakeSource(gtid_list="0-1-3000")
    got = await check(db)
    assert got == reach.Reach("0-1-4100", True, "0-1-3000", None)
    # Read-only statements only.
    assert all(s.sql.startswith(("SELECT", "SHOW")) for s in db.sent)


async def test_reaches_at_exactly_the_first_logs_start() -> None:
    assert (await check(FakeSource(gtid_list="0-1-4100"))).reaches


async def test_reaches_with_an_empty_gtid_list_nothing_purged() -> None:
    assert (await check(FakeSource(gtid_list=""))).reaches


async def test_purged_past_the_backup_is_refused() -> None:
    got = await check(FakeSource(gtid_list="0-1-5229"))
    assert not got.reaches and got.start == "0-1-5229"
    assert got.problem == (
        "db1's binary logs begin after 0-1-5229 (older ones were purged), but the backup "
        f"{WHERE} is at 0-1-4100: a replica seeded from it could never catch up; take a new "
        "backup, or seed with backup_method = \"physical\"")


async def test_a_domain_the_backup_lacks_is_refused() -> None:
    got = await check(FakeSource(state="0-1-9000,1-5-20", gtid_list="0-1-3000,1-5-10"))
    assert not got.reaches and "begin after 0-1-3000,1-5-10" in str(got.problem)


async def test_binlog_off_is_refused() -> None:
    got = await check(FakeSource(log_bin=0))
    assert not got.reaches
    assert got.problem == (
        f"db1's binary log is off, so the transactions since the backup {WHERE} were never "
        "logged and a replica seeded from it could never catch up; seed with backup_method = "
        "\"physical\"")


async def test_no_binary_logs_left_is_refused() -> None:
    got = await check(FakeSource(logs=()))
    assert not got.reaches and "db1 has no binary logs left" in str(got.problem)


async def test_a_position_ahead_of_the_source_is_another_servers_backup() -> None:
    got = await check(FakeSource(state="0-1-3500", gtid_list="0-1-3000"))
    assert not got.reaches
    assert got.problem is not None and got.problem.startswith(
        f"the backup {WHERE} is at 0-1-4100, which db1's binary log history never had (0-1-4100:"
        " ahead of 0-1-3500 in domain 0): it is a backup of another server, or db1's binary "
        "logs were reset since; set [backup] path to a backup of db1, or seed with "
        "backup_method = \"physical\"")


async def test_a_server_id_the_source_never_had_is_another_servers_backup() -> None:
    got = await check(FakeSource(state="0-1-9000"), BinlogCoordinates("f", 4, "0-7-4100"))
    assert not got.reaches and "server_id 7 never wrote in domain 0" in str(got.problem)


async def test_file_and_position_only_is_converted_on_the_source() -> None:
    db = FakeSource(logs=("mysql-bin.000002", "mysql-bin.000003"), gtid_list="0-1-3000",
                    binlog_gtid_pos="0-1-4100")
    got = await check(db, BinlogCoordinates(AT.file, AT.pos, None))
    assert got.reaches and got.position == "0-1-4100"
    assert any("BINLOG_GTID_POS" in s.sql for s in db.sent)


async def test_file_and_position_of_a_purged_binlog_is_refused() -> None:
    got = await check(FakeSource(), BinlogCoordinates(AT.file, AT.pos, None))
    assert not got.reaches
    assert got.problem == (
        f"the backup {WHERE} names only the binlog position mysql-bin.000002:1234, and db1 no "
        "longer has mysql-bin.000002 (its binary logs begin with mysql-bin.000007): a replica "
        "seeded from it could never catch up; take a new backup (--gtid --master-data=2), or "
        "seed with backup_method = \"physical\"")


async def test_file_and_position_the_source_cannot_convert_is_refused() -> None:
    db = FakeSource(logs=("mysql-bin.000002",), binlog_gtid_pos=None)
    with pytest.raises(StepError, match=r"BINLOG_GTID_POS\('mysql-bin.000002', 1234\) found no "
                                        "GTID position"):
        await check(db, BinlogCoordinates(AT.file, AT.pos, None))


async def test_a_first_binlog_without_gtid_list_is_refused() -> None:
    db = FakeSource()
    db.answers[(reach.first_binlog_statement("mysql-bin.000007").sql,
                ("mysql-bin.000007",))] = binlog_events("")[:1]
    with pytest.raises(StepError, match="has no Gtid_list event"):
        await check(db)


async def test_a_mysql_gtid_set_is_refused() -> None:
    with pytest.raises(StepError, match=r"is not a MariaDB GTID \(a MySQL GTID set"):
        await check(FakeSource(), BinlogCoordinates("f", 4, "3E11FA47-71CA-11E1-9E33-"
                                                            "C80AA9429562:1-77"))


def test_judge_is_per_domain() -> None:
    ok = reach.judge("db1", WHERE, parse_position("0-1-50,1-2-7"),
                     parse_state("0-1-90,1-2-9"), parse_state("0-1-40,1-2-7"))
    assert ok.reaches
    short = reach.judge("db1", WHERE, parse_position("0-1-50,1-2-7"),
                        parse_state("0-1-90,1-2-9"), parse_state("0-1-40,1-2-8"))
    assert not short.reaches


# -- what discovery tells the operator ----------------------------------------------------

def backup(**over: Any) -> ExistingBackup:
    base: dict[str, Any] = dict(
        host="backup1", path="/srv/backups/nightly", kind=BackupKind.DIRECTORY,
        prepared=False, server_version="10.11.19-MariaDB-deb12-log", size_bytes=1_234_000_000,
        taken_at=datetime(2026, 12, 2, 3, 0, 5, tzinfo=UTC), gtid_position="0-1-4100",
        binlogs_reach=True, binlogs_start="0-1-3000")
    return ExistingBackup(**{**base, **over})


def test_summary_names_kind_version_size_age_position_and_reach() -> None:
    now = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    lines = summary(backup(picked_from="/srv/backups"), now)
    assert lines == [
        "backup: backup1:/srv/backups/nightly (the newest in /srv/backups)",
        "backup kind: mariadb-backup directory, not prepared (each replica prepares it)",
        "backup server version: 10.11.19-MariaDB-deb12-log",
        "backup size: 1.2 GB",
        "backup taken: 2026-12-02 03:00:05 +0000 (6 h ago)",
        "backup GTID position: 0-1-4100",
        "binary logs: reach back to the backup (they begin after 0-1-3000)",
    ]
    dump = backup(kind=BackupKind.DUMP, prepared=None, compression="zstd",
                  binlogs_reach=False, binlogs_problem="db1's binary logs begin after ...")
    lines = summary(dump, now - timedelta(hours=5))
    assert lines[1] == "backup kind: SQL dump, zstd-compressed"
    assert lines[-1] == ("binary logs: do NOT reach back to the backup: db1's binary logs "
                         "begin after ...")


# -- discovery: the backup recorded, the operator told, the runbook naming the reads -------

def existing_inventory(path: str) -> Any:
    def edit(inventory: dict[str, Any], saved: dict[str, Any]) -> None:
        inventory["migration"]["backup_method"] = "existing"
        inventory["hosts"]["backup1"] = {"address": "10.77.0.40", "role": "backup"}
        inventory["backup"] = {"host": "backup1", "path": path}
    return edit


async def test_discovery_records_the_backup_and_tells_the_operator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = backup_dir(tmp_path / "nightly")
    ctx = context("mariadb-10.11", monkeypatch, edit=existing_inventory(str(at)))
    host, db = LocalHost(), FakeSource(gtid_list="0-1-3000")
    said: list[Event] = []

    async def on(name: str) -> Any:
        assert name == "backup1"
        return host

    async def database(name: str) -> Any:
        assert name == ctx.inventory.source
        return db

    monkeypatch.setattr(ctx, "host", on)
    monkeypatch.setattr(ctx, "db", database)
    monkeypatch.setattr(ctx, "emit", said.append)
    found = await Discover(ctx)._backup()
    assert found is not None and found.binlogs_reach and found.gtid_position == "0-1-4100"
    assert found.kind == BackupKind.DIRECTORY and found.prepared is False
    lines = [e.line for e in said if isinstance(e, OutputLine)]
    assert lines[0] == f"backup: backup1:{at}"
    assert "backup GTID position: 0-1-4100" in lines
    assert lines[-1] == "binary logs: reach back to the backup (they begin after 0-1-3000)"
    runbook = "\n".join(Discover(ctx).plan()[0].runbook)
    assert f"on backup1: date; stat -L -- {at}" in runbook
    assert "SHOW BINARY LOGS" in runbook and "SHOW BINLOG EVENTS IN" in runbook


async def test_discovery_without_an_existing_backup_reads_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context("mariadb-10.11", monkeypatch)
    assert await Discover(ctx)._backup() is None
    assert "SHOW BINARY LOGS" not in "\n".join(Discover(ctx).plan()[0].runbook)
