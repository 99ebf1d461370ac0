"""The Operate screen's words and its log model, on their own: the questions name the real
hosts of the topology, and the log keeps one run's events, report and error."""

from __future__ import annotations

from moodle_wizard.core import events as ev
from moodle_wizard.core.operate.record import Operation, OperationKind
from moodle_wizard.core.operate.topology import Topology
from moodle_wizard.tui.operate_model import OperateLog
from moodle_wizard.tui.operate_words import (
    about,
    drill_question,
    failover_question,
    switchover_question,
)

THREE = Topology("db1", ("db2", "db3"), (), ("db1", "db2", "db3"))
TWO = Topology("db1", ("db2",), (), ("db1", "db2"))


def test_switchover_says_who_replicates_from_the_new_primary() -> None:
    assert "then db3 and db1 replicate from db2" in switchover_question(THREE, "db2")
    assert "then db1 replicates from db2" in switchover_question(TWO, "db2")
    assert "Switching back is a switchover to db1" in switchover_question(THREE, "db3")


def test_failover_names_what_it_promotes_and_fences() -> None:
    chosen = failover_question(THREE, "db3")
    assert "promotes db3" in chosen and "fences db1" in chosen
    assert "use a switchover" in chosen and "are lost" in chosen
    assert "the most advanced replica" in failover_question(THREE, None)


def test_only_the_primary_drill_is_risky() -> None:
    assert [drill_question(THREE, w)[1] for w in ("vip", "switchover", "primary")] == [
        False, False, True]


def test_rollback_says_why_it_is_refused() -> None:
    assert about("rollback", THREE).endswith("as before it.")
    assert about("rollback", THREE, refusal="the primary is now db2").endswith(
        "Refused now: the primary is now db2")
    fenced = Topology("db2", ("db3",), ("db1",), ("db1", "db2", "db3"))
    assert "db1 was fenced by a failover" in about("rejoin", fenced)
    assert "no old primary is fenced" in about("rejoin", THREE)


def test_an_operation_in_flight_is_named_as_the_operator_says_it() -> None:
    rejoin = Operation(kind=OperationKind.REJOIN, target="DB1", old_primary="db2")
    assert about("continue", THREE, rejoin).startswith("The rejoin of DB1 stopped (running).")
    switch = Operation(kind=OperationKind.SWITCHOVER, target="db2", old_primary="db1")
    assert about("continue", THREE, switch).startswith("The switchover to db2 stopped")


def test_the_log_keeps_one_run() -> None:
    log = OperateLog()
    log.start("switchover to db2")
    log.apply([ev.StepStarted("switchover", "Switchover to db2"),
               ev.ActionStarted("switchover", "ro", "set db1 read-only"),
               ev.OutputLine("switchover", "db1", "read_only=1"),
               ev.StepFailed("switchover", "db2 did not catch up in 30 s\ntraceback")])
    assert log.now == "set db1 read-only" and log.running
    log.stopped("db2 did not catch up in 30 s: the switchover was undone")
    assert list(log.lines) == ["==> Switchover to db2", "  - set db1 read-only",
                               "    db1: read_only=1", "  FAILED: db2 did not catch up in 30 s",
                               "✗ db2 did not catch up in 30 s: the switchover was undone"]
    assert log.failed and not log.running and log.logged == 5
    first = log.run
    log.start("failover")
    assert log.run == first + 1 and not log.lines and log.outcome is None
    log.succeeded("db3 is the primary now", ["lost: none"], ok=True)
    assert list(log.lines) == ["✓ db3 is the primary now", "  lost: none"] and not log.failed
