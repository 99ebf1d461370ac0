"""core/health_items.py's verdicts on canned rows: the primary, a replica's source, read_only
and GTID position, a fenced old primary, an operation left in flight, ProxySQL's servers as
the topology expects them, the monitor's errors, and Prometheus' text format."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from moodle_wizard.core.health import monitor_query, prometheus_text
from moodle_wizard.core.health_items import (
    HealthItem,
    HealthReport,
    MonitorEntry,
    ServerVars,
    fenced_item,
    monitor_item,
    not_yet,
    operation_item,
    passed,
    primary_item,
    replica_item,
    servers_item,
)
from moodle_wizard.core.operate.record import Operation, OperationKind, OperationStatus
from moodle_wizard.core.sql.parsers import ReplicaStatus, normalize_replica_status
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.proxysql_verify import RuntimeServer
from tests.unit.health_fakes import slave_status

NAMES = {"10.77.0.11": "db1", "10.77.0.12": "db2", "10.77.0.13": "db3"}
DB1 = ("db1", "10.77.0.11")
AT = datetime(2026, 12, 1, 20, 5, 7, tzinfo=UTC)


def status(**changes: Any) -> ReplicaStatus:
    row = slave_status()[0] | changes
    found = normalize_replica_status(row)
    assert found is not None
    return found


# -- the primary and the replicas --------------------------------------------------------------


def test_a_writable_primary_that_replicates_from_nothing_is_healthy() -> None:
    item = primary_item("db2", None, ServerVars(False, "0-1-40", "0-2-57"))
    assert (item.name, item.ok) == ("db2 primary", True)
    assert item.detail == "writable, not a replica, binlog at 0-2-57"


def test_a_read_only_primary_is_unhealthy() -> None:
    item = primary_item("db1", None, ServerVars(True, "", "0-1-42"))
    assert item.ok is False
    assert item.detail == "read-only (read_only=1): Moodle's writes fail"


def test_a_primary_that_replicates_is_unhealthy() -> None:
    item = primary_item("db1", status(Master_Host="10.77.0.12"), ServerVars(False, "", ""))
    assert item.ok is False
    assert item.detail.startswith("it replicates from 10.77.0.12 (SHOW SLAVE STATUS is not "
                                  "empty)")


def test_read_only_reads_as_the_server_answers_it() -> None:
    assert ServerVars.from_row({"read_only": 1, "slave_pos": None, "binlog_pos": "0-1-9"}) \
        == ServerVars(True, "", "0-1-9")
    assert not ServerVars.from_row({"read_only": "0", "slave_pos": "0-1-9",
                                    "binlog_pos": ""}).read_only
    assert ServerVars.from_row({"read_only": "ON", "slave_pos": "", "binlog_pos": ""}).read_only


def test_a_replica_shows_its_source_and_applied_position() -> None:
    item = replica_item("db3", status(), seen=ServerVars(True, "0-1-42", ""), primary=DB1)
    assert item.ok is True
    assert item.detail == ("IO and SQL threads running, lag 0 s, from db1, read-only, "
                           "applied 0-1-42")


def test_a_writable_replica_is_unhealthy() -> None:
    item = replica_item("db2", status(), seen=ServerVars(False, "0-1-42", ""), primary=DB1)
    assert item.ok is False
    assert item.detail == "writable (read_only=0): ProxySQL would take it as a writer"


def test_a_replica_of_the_wrong_server_is_unhealthy() -> None:
    # After a switchover to db2, db3 still replicating from db1.
    item = replica_item("db3", status(), seen=ServerVars(True, "0-1-42", ""),
                        primary=("db2", "10.77.0.12"))
    assert item.ok is False
    assert item.detail == "replicates from 10.77.0.11, not from the primary db2 (10.77.0.12)"


def test_every_reason_of_a_replica_is_named_at_once() -> None:
    item = replica_item("db2", status(Slave_IO_Running="No", Master_Host="10.77.0.13"),
                        seen=ServerVars(False, "", ""), primary=DB1)
    assert item.ok is False
    assert item.detail.split("; ") == [
        "IO thread not running (No)", "replicates from 10.77.0.13, not from the primary db1 "
        "(10.77.0.11)", "writable (read_only=0): ProxySQL would take it as a writer"]


# -- fenced and in flight --------------------------------------------------------------------


def failover(old: str = "db1", target: str = "db2", **changes: Any) -> Operation:
    return Operation(kind=OperationKind.FAILOVER, target=target, old_primary=old,
                     status=OperationStatus.DONE, started_at=AT, finished_at=AT, **changes)


def test_a_fenced_host_fails_with_when_and_how_to_rejoin() -> None:
    older = failover("db3", "db1").model_copy(update={"finished_at": datetime(2026, 1, 1,
                                                                                tzinfo=UTC)})
    item = fenced_item("db1", [older, failover()])
    assert (item.group, item.name, item.ok) == ("cluster", "db1 fenced", False)
    assert item.detail == ("db1 fenced by the failover at 2026-12-01 20:05:07 UTC: rejoin it "
                           "with `moodle-wizard rejoin db1`")


@pytest.mark.parametrize(("kind", "target", "what", "command"), [
    (OperationKind.SWITCHOVER, "db2", "switchover from db1 to db2",
     "moodle-wizard switchover --to db2"),
    (OperationKind.FAILOVER, "db3", "failover from db1 to db3", "moodle-wizard failover"),
    (OperationKind.REJOIN, "db1", "rejoin of db1", "moodle-wizard rejoin db1")])
def test_an_operation_in_flight_fails_and_says_how_to_continue(
        kind: OperationKind, target: str, what: str, command: str) -> None:
    op = Operation(kind=kind, target=target, old_primary="db1", status=OperationStatus.FAILED,
                   started_at=AT, last_error="db2 did not catch up in 30 s")
    item = operation_item(op)
    assert (item.group, item.name, item.ok) == ("cluster", f"{kind} in flight", False)
    assert item.detail == (f"{what} started at 2026-12-01 20:05:07 UTC is failed (db2 did "
                           f"not catch up in 30 s): continue it with `{command}`")


# -- ProxySQL's servers as the topology expects them ---------------------------------------------


def row(hg: int, addr: str, st: str = "ONLINE") -> RuntimeServer:
    return RuntimeServer(hg, addr, 3306, st, 1, 0)


def test_after_a_switchover_the_writer_is_the_new_primary() -> None:
    switched = [row(10, "10.77.0.12"), row(20, "10.77.0.11"), row(20, "10.77.0.13")]
    expected = {(10, "10.77.0.12"), (20, "10.77.0.11"), (20, "10.77.0.13")}
    item = servers_item("px1", switched, expected, NAMES, writer=(10, "10.77.0.12"))
    assert item.ok is True
    # The inventory's roles would be wrong now.
    old = servers_item("px1", switched, {(10, "10.77.0.11"), (20, "10.77.0.12")}, NAMES,
                       writer=(10, "10.77.0.11"))
    assert old.ok is False and "db1 is not ONLINE in hostgroup 10" in old.detail


def test_a_second_writer_online_is_unhealthy() -> None:
    rows = [row(10, "10.77.0.11"), row(10, "10.77.0.12"), row(20, "10.77.0.13")]
    item = servers_item("px2", rows, {(10, "10.77.0.11")}, NAMES, writer=(10, "10.77.0.11"))
    assert item.ok is False
    assert item.detail.startswith("db2 is ONLINE in the writer hostgroup 10, but the primary "
                                  "is db1 (")


def test_a_fenced_host_offline_hard_is_as_expected() -> None:
    rows = [row(10, "10.77.0.11", "OFFLINE_HARD"), row(10, "10.77.0.12"),
            row(20, "10.77.0.13")]
    expected = {(10, "10.77.0.12"), (20, "10.77.0.13")}
    item = servers_item("px1", rows, expected, NAMES, writer=(10, "10.77.0.12"),
                        fenced=frozenset({"10.77.0.11"}))
    assert item.ok is True
    assert item.detail == "HG 10: db1 OFFLINE_HARD, db2 ONLINE; HG 20: db3 ONLINE"
    # Without the journal saying it is fenced, an OFFLINE_HARD server is a failure.
    assert servers_item("px1", rows, expected, NAMES).ok is False


def test_a_fenced_host_back_online_is_unhealthy() -> None:
    rows = [row(10, "10.77.0.11", "ONLINE"), row(10, "10.77.0.12"), row(20, "10.77.0.13")]
    item = servers_item("px1", rows, {(10, "10.77.0.12")}, NAMES, writer=(10, "10.77.0.12"),
                        fenced=frozenset({"10.77.0.11"}))
    assert item.ok is False
    assert item.detail.startswith("db1 is fenced but ONLINE in hostgroup 10 (must be "
                                  "OFFLINE_HARD until it rejoins) (")


# -- the monitor's errors --------------------------------------------------------------------------

NOW = 1_764_600_000_000_000
SERVING = {"10.77.0.11": "db1", "10.77.0.12": "db2", "10.77.0.13": "db3"}


def entry(check: str, addr: str, ago_s: int, error: str | None = None) -> MonitorEntry:
    return MonitorEntry(check, addr, 3306, NOW - ago_s * 1_000_000, error, NOW)


def fine(*but: str) -> list[MonitorEntry]:
    return [entry(c, a, 1) for c in ("connect", "ping", "read_only") for a in SERVING
            if (c, a) not in {tuple(b.split("@")) for b in but}]


REFUSED = "Can't connect to MySQL server on '10.77.0.12' (111)"


def test_no_errors_is_healthy() -> None:
    item = monitor_item("px1", fine(), SERVING, NAMES)
    assert (item.name, item.ok) == ("px1 monitor", True)
    assert item.detail == "no monitor errors about db1, db2, db3 in the last 60 s"


def test_a_serving_server_the_monitor_cannot_reach_is_unhealthy() -> None:
    entries = [*fine("ping@10.77.0.12"), entry("ping", "10.77.0.12", 3, REFUSED),
               entry("ping", "10.77.0.12", 13, REFUSED)]
    item = monitor_item("px2", entries, SERVING, NAMES)
    assert item.ok is False
    assert item.detail == f"cannot reach db2 ping failed 3 s ago (2 errors in 60 s): {REFUSED}"


def test_an_error_followed_by_a_success_is_shown_not_failed() -> None:
    entries = [*fine(), entry("connect", "10.77.0.13", 40, "timeout on creating new "
                              "connection")]
    item = monitor_item("px1", entries, SERVING, NAMES)
    assert item.ok is True
    assert item.detail.endswith("; db3 connect failed 40 s ago: timeout on creating new "
                                "connection (recovered)")


def test_errors_about_a_fenced_server_do_not_fail() -> None:
    serving = {a: n for a, n in SERVING.items() if n != "db1"}
    entries = [e for e in fine() if e.hostname != "10.77.0.11"]
    entries.append(entry("ping", "10.77.0.11", 2, "Can't connect (111)"))
    item = monitor_item("px1", entries, serving, NAMES)
    assert item.ok is True
    assert "db1 ping failed 2 s ago: Can't connect (111) (not serving)" in item.detail


def test_a_serving_server_not_checked_at_all_is_unhealthy() -> None:
    entries = [e for e in fine() if e.hostname != "10.77.0.13"]
    item = monitor_item("px1", entries, SERVING, NAMES)
    assert item.ok is False
    assert item.detail == "it has not checked db3 in the last 60 s"


def test_the_monitor_queries_run_on_proxysql_admin_sqlite() -> None:
    """ProxySQL's admin interface is SQLite: the queries on its 2.x monitor tables (columns
    from proxysql.com/documentation/backend-monitoring) keep only the last minute, on the
    node's own clock."""
    db = sqlite3.connect(":memory:")
    db.execute("ATTACH DATABASE ':memory:' AS monitor")
    db.execute("CREATE TABLE monitor.mysql_server_ping_log (hostname VARCHAR NOT NULL, port "
               "INT NOT NULL DEFAULT 3306, time_start_us INT NOT NULL DEFAULT 0, "
               "ping_success_time_us INT DEFAULT 0, ping_error VARCHAR, PRIMARY KEY "
               "(hostname, port, time_start_us))")
    now = int(time.time()) * 1_000_000
    db.executemany("INSERT INTO monitor.mysql_server_ping_log VALUES (?, 3306, ?, ?, ?)",
                   [("10.77.0.12", now - 5_000_000, 0, REFUSED),
                    ("10.77.0.13", now - 6_000_000, 310, None),
                    ("10.77.0.12", now - 300_000_000, 0, "old")])
    cur = db.execute(monitor_query("mysql_server_ping_log", "ping_error"))
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    assert [(r["hostname"], r["error"]) for r in rows] == [("10.77.0.12", REFUSED),
                                                          ("10.77.0.13", None)]
    assert abs(rows[0]["now_us"] - now) <= 2_000_000


# -- Prometheus ------------------------------------------------------------------------------------


def test_prometheus_text_has_one_gauge_per_applicable_item() -> None:
    items = (passed("replication", "db2 replication", "fine"),
             HealthItem("proxysql", 'px"1\\ servers', True, False, "down"),
             not_yet("vip", "VIP holder", StepName.VIP))
    text = prometheus_text(HealthReport(items, 1.23456, "db2"), "mw\nlab")
    lines = text.splitlines()
    assert text.endswith("\n")
    m = 'migration="mw\\nlab"'
    assert [ln for ln in lines if not ln.startswith("#")] == [
        f'moodle_wizard_health_ok{{{m},group="replication",item="db2 replication"}} 1',
        f'moodle_wizard_health_ok{{{m},group="proxysql",item="px\\"1\\\\ servers"}} 0',
        f"moodle_wizard_healthy{{{m}}} 0",
        f"moodle_wizard_health_seconds{{{m}}} 1.235",
        f'moodle_wizard_primary_info{{{m},host="db2"}} 1']
    assert "# TYPE moodle_wizard_health_ok gauge" in lines
    assert "# TYPE moodle_wizard_healthy gauge" in lines
    healthy = prometheus_text(HealthReport(items[:1], 0.5), "mwlab")
    assert "moodle_wizard_healthy{migration=\"mwlab\"} 1" in healthy.splitlines()
    assert "primary_info" not in healthy
