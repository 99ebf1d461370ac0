"""Switchover and failover decisions from facts already read (core/operate/choice.py)."""

from __future__ import annotations

import dataclasses

import pytest

from moodle_wizard.core.operate.choice import (
    MAX_SWITCHOVER_LAG_S,
    failover_candidate,
    lost_transactions,
    switchover_problems,
)
from moodle_wizard.core.sql.gtid import parse_position, parse_state
from moodle_wizard.core.sql.parsers import ReplicaStatus

pos = parse_position

HEALTHY = ReplicaStatus(
    io_running=True, sql_running=True, io_state="Waiting for master to send event",
    seconds_behind=0, last_io_error="", last_sql_error="", source_host="db1",
    source_port=3306, source_log_file="mariadb-bin.000003", exec_source_log_pos=1234,
    uses_gtid=True, gtid_position="0-1-100",
)


def problems(status: ReplicaStatus | None = HEALTHY, *, primary: str = "0-1-100",
             target: str = "0-1-100", read_only: bool = True) -> list[str]:
    found = switchover_problems("db2", pos(primary), pos(target), status,
                                target_read_only=read_only)
    return [f"{p.level}: {p.message}" for p in found]


# --- switchover ---------------------------------------------------------------------------


def test_healthy_caught_up_or_catching_up_target_has_no_problem() -> None:
    assert problems() == []
    assert problems(target="0-1-90") == []  # behind: the switchover waits for it
    assert problems(primary="0-1-100,1-1-5", target="0-1-100") == []


def test_not_a_replica() -> None:
    (only,) = problems(None)
    assert only.startswith("error: db2 is not a replica")


def test_stopped_threads_and_errors() -> None:
    status = dataclasses.replace(HEALTHY, sql_running=False, seconds_behind=None,
                                 last_sql_error="Error 'Duplicate entry' on query")
    found = problems(status)
    assert any("SQL thread stopped" in p for p in found)
    assert any("Duplicate entry" in p for p in found)
    assert all(p.startswith("error:") for p in found)
    assert not any("lag is unknown" in p for p in found)  # the stopped thread says it


def test_lag_bound() -> None:
    assert problems(dataclasses.replace(HEALTHY, seconds_behind=MAX_SWITCHOVER_LAG_S)) == []
    (late,) = problems(dataclasses.replace(HEALTHY, seconds_behind=MAX_SWITCHOVER_LAG_S + 1))
    assert f"{MAX_SWITCHOVER_LAG_S + 1} s behind" in late
    (unknown,) = problems(dataclasses.replace(HEALTHY, seconds_behind=None))
    assert "lag is unknown" in unknown


def test_not_gtid_and_writable() -> None:
    found = problems(dataclasses.replace(HEALTHY, uses_gtid=False), read_only=False)
    assert any("MASTER_USE_GTID=slave_pos" in p for p in found)
    assert any("not read-only" in p for p in found)


@pytest.mark.parametrize(("target", "words"), [
    ("0-2-101", "ahead of 0-1-100"),
    ("0-3-100", "diverged"),
    ("0-1-100,4-2-1", "domain 4 is not in"),
])
def test_errant_target_refused(target: str, words: str) -> None:
    (only,) = problems(target=target)
    assert only.startswith("error: db2 has transactions the primary's history lacks")
    assert words in only


def test_unprovable_with_positions_is_a_risky_question_settled_by_states() -> None:
    found = switchover_problems("db2", pos("0-2-150"), pos("0-1-90"), HEALTHY,
                                target_read_only=True)
    assert [(p.level, p.risky) for p in found] == [("question", True)]
    assert "@@gtid_binlog_state" in found[0].message
    settled = switchover_problems("db2", parse_state("0-1-100,0-2-150"), pos("0-1-90"),
                                  HEALTHY, target_read_only=True)
    assert settled == []
    errant = switchover_problems("db2", parse_state("0-1-100,0-2-150"),
                                 parse_state("0-1-90,0-5-3"), HEALTHY, target_read_only=True)
    assert [p.level for p in errant] == ["error"]
    assert "server_id 5 never wrote" in errant[0].message


# --- failover candidate -------------------------------------------------------------------


def test_most_advanced_is_chosen() -> None:
    choice = failover_candidate({"db2": pos("0-1-98"), "db3": pos("0-1-100")}, None)
    assert choice.name == "db3"
    assert choice.candidates == ("db3",)
    assert "0-1-100" in choice.reason


def test_tie_without_preference_is_a_question_naming_both() -> None:
    choice = failover_candidate({"db3": pos("0-1-100"), "db2": pos("0-1-100"),
                                 "db4": pos("0-1-7")}, None)
    assert choice.name is None
    assert choice.candidates == ("db2", "db3")
    assert "db2 and db3" in choice.reason and choice.reason.endswith("?")


def test_tie_goes_to_the_preferred_one() -> None:
    choice = failover_candidate({"db2": pos("0-1-100"), "db3": pos("0-1-100")}, "db3")
    assert choice.name == "db3"
    assert "preferred" in choice.reason and "tied with db2" in choice.reason


def test_preferred_behind_is_not_promoted_and_the_reason_says_why() -> None:
    choice = failover_candidate({"db2": pos("0-1-97"), "db3": pos("0-1-100")}, "db2")
    assert choice.name == "db3"
    assert "not the preferred db2" in choice.reason
    assert "0-1-98 to 0-1-100 (up to 3 transactions" in choice.reason


def test_preferred_unreachable_is_said() -> None:
    choice = failover_candidate({"db2": pos("0-1-100"), "db3": pos("0-1-100")}, "db4")
    assert choice.name is None
    assert "preferred db4 is not among" in choice.reason


def test_diverged_replicas_are_always_a_question() -> None:
    replicas = {"db2": pos("0-1-100,1-1-2"), "db3": pos("0-1-90,1-1-9")}
    for preferred in (None, "db2"):
        choice = failover_candidate(replicas, preferred)
        assert choice.name is None
        assert "each have transactions the others lack" in choice.reason


def test_no_replica_no_candidate() -> None:
    choice = failover_candidate({}, "db2")
    assert choice.name is None and choice.candidates == ()


# --- lost transactions --------------------------------------------------------------------


def test_nothing_lost() -> None:
    lost = lost_transactions(pos("0-1-100"), pos("0-1-100"))
    assert lost.none
    assert lost.text() == ["no transaction lost: the new primary has everything the old one "
                           "was last known to have"]


def test_lost_range_and_count() -> None:
    lost = lost_transactions(pos("0-1-120,1-1-4"), pos("0-1-100,1-1-4"))
    assert not lost.none
    assert lost.lines == ("domain 0: 0-1-101 to 0-1-120 (up to 20 transactions; the other "
                          "server's last from server_id 1 is 0-1-100)",)
    assert lost.text()[0].startswith("lost (at least")


def test_lost_whole_domain_and_after_promotion_with_state() -> None:
    lost = lost_transactions(pos("0-1-100,2-1-7"), pos("0-1-100"))
    assert lost.lines == ("domain 2: every transaction up to 2-1-7 (the other server has no "
                          "domain 2)",)
    # After the promotion the new primary writes as server_id 2: its state still tells.
    after = lost_transactions(pos("0-1-120"), parse_state("0-1-100,0-2-130"))
    assert len(after.lines) == 1 and "0-1-101 to 0-1-120" in after.lines[0]
    # Its position alone cannot: a doubt, said as "possibly lost".
    unsure = lost_transactions(pos("0-1-120"), pos("0-2-130"))
    assert unsure.lines == () and len(unsure.doubts) == 1
    assert unsure.text()[0].startswith("possibly lost: domain 0: 0-1-120")
