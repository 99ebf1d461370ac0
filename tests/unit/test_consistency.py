"""Issue 14 item 3: the replicas step's checksum verify against a simulated source and replicas
— every host at once, a table that differs checksummed again alone, a table Moodle keeps
writing compared with the replicas stopped at one source position, a real difference named,
and the sampled verify's chunks the same on every host."""

from __future__ import annotations

import asyncio
import re
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from moodle_wizard.core.events import Event, OutputLine
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.replicas import Replicas, checksums
from tests.unit.test_source_binlog import context

REPLICAS = ("db2", "db3")
Row = tuple[int, str]


class Cluster:
    """db1 and its replicas. db1's writes are a list of events; a replica has applied a prefix
    of them (its position), plus whatever `drift` puts on it alone (a broken replica)."""

    def __init__(self, tables: dict[str, int], row_bytes: int = 10_000_000) -> None:
        self.row_bytes = row_bytes
        self.base = {t: [(i, f"{t}-{i}") for i in range(1, n + 1)] for t, n in tables.items()}
        self.events: list[tuple[str, Row]] = []
        self.applied = dict.fromkeys(REPLICAS, 0)
        self.sql_running = dict.fromkeys(REPLICAS, True)
        self.drift: dict[tuple[str, str], dict[int, str]] = {}
        # Moodle writing: a row lands in `hot` just before each of db1's next `writes`
        # checksums of it.
        self.hot, self.writes = "", 0
        self.in_flight = self.peak = 0
        self.ran: dict[str, list[tuple[str, Any]]] = {h: [] for h in ("db1", *REPLICAS)}
        self.conns: list[FakeDb] = []
        self.asked_cores: list[str] = []
        # Hosts whose next MASTER_GTID_WAIT times out.
        self.wait_times_out: set[str] = set()

    def rows(self, host: str, table: str) -> list[Row]:
        n = len(self.events) if host == "db1" else self.applied[host]
        rows = dict(self.base[table])
        rows.update(row for t, row in self.events[:n] if t == table)
        rows.update(self.drift.get((host, table), {}))
        return sorted(rows.items())

    def write(self, table: str) -> None:
        self.events.append((table, (10_000_000 + len(self.events), "new")))


def crc(rows: list[Row]) -> int:
    return zlib.crc32(repr(rows).encode())


class FakeDb:
    """One connection to a host of the Cluster, answering the statements the verify sends."""

    def __init__(self, cluster: Cluster, host: str) -> None:
        self.c, self.host_name, self.closed = cluster, host, False
        self.checksums = 0
        self.version = SimpleNamespace(is_mariadb=True)
        cluster.conns.append(self)

    async def query(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        c, host = self.c, self.host_name
        assert not self.closed
        if "information_schema.tables" in sql:
            return [{"t": t, "n": len(rows), "b": len(rows) * c.row_bytes}
                    for t, rows in sorted(c.base.items())]
        if "information_schema.columns" in sql:
            return [{"t": t, "c": col, "nullable": nl, "k": k, "type": ty} for t in sorted(c.base)
                    for col, nl, k, ty in (("id", "NO", "PRI", "bigint"), ("v", "YES", "", "text"))]
        if sql.startswith("SELECT MIN("):
            ids = [i for i, _ in c.rows(host, table_of(sql))]
            return [{"lo": min(ids, default=None), "hi": max(ids, default=None)}]
        if sql.startswith(("CHECKSUM TABLE", "SELECT COUNT(*)")):
            table = table_of(sql)
            c.ran[host].append((table, args))
            self.checksums += 1
            if host == "db1" and table == c.hot and c.writes:
                c.writes -= 1
                c.write(table)
            c.in_flight += 1
            c.peak = max(c.peak, c.in_flight)
            await asyncio.sleep(0)  # a statement takes a while: others run meanwhile
            c.in_flight -= 1
            rows = c.rows(host, table)
            if args is None:
                return [{"Table": f"moodle.{table}", "Checksum": crc(rows)}]
            part = [r for r in rows if args[0] <= r[0] <= args[1]]
            return [{"cnt": len(part), "crc": crc(part)}]
        if sql == "SELECT @@gtid_binlog_pos AS p":
            return [{"p": f"0-1-{len(c.events)}"}]
        if sql.startswith("SELECT MASTER_GTID_WAIT"):
            # Caught up to the position and no further: the least a replica may be at.
            assert c.sql_running[host]
            if host in c.wait_times_out:
                c.wait_times_out.discard(host)
                return [{"r": -1}]
            c.applied[host] = max(c.applied[host], seqno(args[0]))
            return [{"r": 0}]
        if sql == "STOP SLAVE":
            c.sql_running[host] = False
            return []
        if sql.startswith("START SLAVE UNTIL master_gtid_pos"):
            assert c.applied[host] <= seqno(args[0]), "a stopped replica is behind the source"
            c.applied[host] = seqno(args[0])
            return []
        if sql == "START SLAVE":
            c.sql_running[host], c.applied[host] = True, len(c.events)
            return []
        if sql == "SHOW SLAVE STATUS":
            return [{"Slave_SQL_Running": "Yes" if c.sql_running[host] else "No"}]
        raise AssertionError(sql)

    async def one(self, sql: str, args: Any = None) -> dict[str, Any]:
        return (await self.query(sql, args))[0]

    async def close(self) -> None:
        self.closed = True


def table_of(sql: str) -> str:
    match = re.search(r"`moodle`\.`([^`]+)`", sql)
    assert match, sql
    return match.group(1)


def seqno(pos: str) -> int:
    return int(pos.rsplit("-", 1)[1])


def step_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: Cluster,
            migration: str = "") -> tuple[Replicas, list[Event]]:
    ctx = context(tmp_path, migration=migration)
    events: list[Event] = []
    ctx._emit = events.append
    mains = {h: FakeDb(cluster, h) for h in ("db1", *REPLICAS)}

    async def db(name: str) -> FakeDb:
        return mains[name]

    async def two_cores(ctx: Any, name: str) -> int:
        cluster.asked_cores.append(name)
        return 2

    async def another(name: str) -> FakeDb:
        return FakeDb(cluster, name)

    monkeypatch.setattr(ctx, "db", db)
    monkeypatch.setattr(checksums, "host_cores", two_cores)
    monkeypatch.setattr(ctx, "connect_db", another)
    monkeypatch.setattr(ctx, "save", lambda: None)
    ctx.discovered.source.data_bytes = sum(TABLES.values()) * cluster.row_bytes
    return Replicas(ctx), events


def said(events: list[Event]) -> list[str]:
    return [e.line for e in events if isinstance(e, OutputLine)]


TABLES = {"mdl_user": 30, "mdl_course": 12, "mdl_log": 50}


async def test_equal_tables_are_checksummed_once_on_every_host_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(TABLES)
    # Written before the verify, not applied yet: each replica catches up to db1's position
    # before its pass (or mdl_course would differ and be checksummed again).
    cluster.write("mdl_course")
    cluster.write("mdl_course")
    step, events = step_on(tmp_path, monkeypatch, cluster)
    await step._verify_checksums()
    for host in ("db1", *REPLICAS):
        assert sorted(t for t, _ in cluster.ran[host]) == sorted(TABLES)
    # db1 (2 cores: 1 connection) and each replica (2 connections) at the same time.
    assert cluster.peak == 5
    assert [c.closed for c in cluster.conns].count(True) == 2
    assert step.facts.checksummed_tables == 3
    [line] = said(events)
    assert re.fullmatch(r"checksums equal on db1, db2, db3 \(full: 3 tables\) in \d+\.\d s",
                        line), line


async def test_small_data_is_checksummed_over_each_hosts_one_connection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 92 rows of 1 kB: more connections would cost more than they save.
    cluster = Cluster(TABLES, row_bytes=1_000)
    step, events = step_on(tmp_path, monkeypatch, cluster)
    await step._verify_checksums()
    assert len(cluster.conns) == 3 and cluster.asked_cores == []
    assert cluster.peak == 3  # still every host at once
    assert "(full: 3 tables)" in said(events)[0]


async def test_a_replica_that_differs_is_named_and_replication_runs_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(TABLES)
    cluster.drift[("db3", "mdl_user")] = {7: "changed on db3 alone"}
    step, events = step_on(tmp_path, monkeypatch, cluster)
    with pytest.raises(StepError, match=r"differ between the source and replicas: db3:mdl_user$"):
        await step._verify_checksums()
    # Checksummed again alone (three passes and once at one position), the others once.
    assert [t for t, _ in cluster.ran["db3"]].count("mdl_user") == 4
    assert [t for t, _ in cluster.ran["db3"]].count("mdl_log") == 1
    assert all(cluster.sql_running.values())
    assert all(c.closed for c in cluster.conns[3:])
    assert said(events) == []


async def test_a_table_moodle_keeps_writing_is_compared_at_one_position(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(TABLES)
    # Written before each of db1's three passes over it: the replicas, caught up to the
    # position read before the pass, never have that row during a pass.
    cluster.hot, cluster.writes = "mdl_log", 3
    step, events = step_on(tmp_path, monkeypatch, cluster)
    await step._verify_checksums()
    assert [t for t, _ in cluster.ran["db2"]].count("mdl_log") == 4
    assert [t for t, _ in cluster.ran["db2"]].count("mdl_user") == 1
    assert all(cluster.sql_running.values())
    assert cluster.applied == dict.fromkeys(REPLICAS, 3)
    [line] = said(events)
    assert "(full: 3 tables; 1 compared again with the replicas stopped at the source's " \
           "position)" in line


async def test_a_written_table_that_also_differs_still_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(TABLES)
    cluster.hot, cluster.writes = "mdl_log", 3
    cluster.drift[("db2", "mdl_log")] = {1: "lost update"}
    step, _ = step_on(tmp_path, monkeypatch, cluster)
    with pytest.raises(StepError, match=r"replicas: db2:mdl_log$"):
        await step._verify_checksums()


async def test_sampled_checksums_the_same_chunks_everywhere_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster({"mdl_log": 25_000, "mdl_user": 30})
    # A row in the first chunk differs: a sample of one chunk in three (the newest) misses it.
    cluster.drift[("db2", "mdl_log")] = {5: "unsampled"}
    step, events = step_on(tmp_path, monkeypatch, cluster, migration='verify = "sampled"')
    await step._verify_checksums()
    chunks = {h: sorted(a for t, a in cluster.ran[h] if t == "mdl_log") for h in cluster.ran}
    assert chunks["db1"] == chunks["db2"] == chunks["db3"] == [(16_669, 25_000)]
    [line] = said(events)
    assert "(sampled: 2 of 4 chunks of 2 tables) in" in line


async def test_sampled_finds_a_difference_in_a_sampled_chunk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster({"mdl_log": 25_000, "mdl_user": 30})
    cluster.drift[("db3", "mdl_log")] = {24_999: "changed"}
    step, _ = step_on(tmp_path, monkeypatch, cluster, migration='verify = "sampled"')
    with pytest.raises(StepError, match=r"db3:mdl_log\[16669\.\.25000\]$"):
        await step._verify_checksums()


async def test_the_sources_first_pass_runs_early_and_the_verify_checksums_only_the_replicas(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(TABLES)
    step, events = step_on(tmp_path, monkeypatch, cluster)
    step.begin_source_checksums()
    await asyncio.sleep(0.01)  # the step's other actions run meanwhile
    assert sorted(t for t, _ in cluster.ran["db1"]) == sorted(TABLES)
    # Never on the connection the step's actions share.
    assert cluster.conns[0].checksums == 0
    # Moodle writes to mdl_user, and the replicas apply it, before they are checksummed:
    # mdl_user is compared again.
    cluster.write("mdl_user")
    cluster.applied = dict.fromkeys(REPLICAS, 1)
    await step._verify_checksums()
    db1 = [t for t, _ in cluster.ran["db1"]]
    assert db1.count("mdl_user") == 2 and db1.count("mdl_log") == 1
    assert all(c.closed for c in cluster.conns[3:])
    [line] = said(events)
    assert "(full: 3 tables; first pass of db1 while the replicas started) in" in line


async def test_a_started_replica_is_checksummed_while_the_next_one_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(TABLES)
    step, events = step_on(tmp_path, monkeypatch, cluster)
    step.begin_replica_checksums("db2")  # before the source's: nothing to compare with yet
    await asyncio.sleep(0.01)
    assert cluster.ran["db2"] == []
    step.begin_source_checksums()
    step.begin_replica_checksums("db2")
    await asyncio.sleep(0.01)
    assert sorted(t for t, _ in cluster.ran["db2"]) == sorted(TABLES)
    assert cluster.ran["db3"] == []
    await step._verify_checksums()
    # Each host once: db1 and db2 before the verify, db3 in it.
    for host in ("db1", *REPLICAS):
        assert sorted(t for t, _ in cluster.ran[host]) == sorted(TABLES)
    assert all(c.closed for c in cluster.conns[3:])
    [line] = said(events)
    assert "(full: 3 tables; first pass of db1, db2 while the replicas started) in" in line


async def test_an_early_pass_still_running_when_the_step_fails_is_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(TABLES)
    step, events = step_on(tmp_path, monkeypatch, cluster)
    step.begin_source_checksums()
    await asyncio.sleep(0)
    await step.settle()
    assert len(cluster.ran["db1"]) < len(TABLES)
    assert all(c.closed for c in cluster.conns[3:])
    # The verify of a later run has no early pass to take: it does its own.
    await step._verify_checksums()
    assert "first pass" not in said(events)[0]


async def test_an_early_pass_that_fails_is_done_again_by_the_verify(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(TABLES)
    cluster.wait_times_out.add("db2")
    step, events = step_on(tmp_path, monkeypatch, cluster)
    step.begin_source_checksums()
    step.begin_replica_checksums("db2")
    await step._verify_checksums()
    assert sorted(t for t, _ in cluster.ran["db2"]) == sorted(TABLES)
    [line] = said(events)
    assert "first pass of db1 while" in line
