"""The drills' arithmetic: the probe's lines, pauses, the outage after a crash, lost writes and
lost transactions, the confirm-down time, and when a drill says a target was missed."""

from __future__ import annotations

import pytest

from moodle_wizard.core.operate.drill_probe import (
    Attempt,
    ProbeLog,
    longest_pause,
    lost_tokens,
    outage_after,
    parse_line,
    window,
)
from moodle_wizard.core.operate.drills import (
    Leg,
    PrimaryDrill,
    SwitchoverDrill,
    lost_count,
    notice_seconds,
)


def ok(start: float, end: float | None = None, token: str = "") -> Attempt:
    return Attempt(start, start + 0.005 if end is None else end, True, token=token)


def fail(start: float, end: float | None = None, error: str = "1290 write: read-only") -> Attempt:
    return Attempt(start, start + 0.005 if end is None else end, False, error=error)


# -- the probe's lines ------------------------------------------------------------------------

def test_parse_line_reads_ok_and_failed_attempts() -> None:
    assert parse_line("ok 100.0100 100.0150 9f3a") == Attempt(100.01, 100.015, True, "9f3a")
    assert parse_line("ok 100.0 100.5 -") == Attempt(100.0, 100.5, True, "")
    failed = parse_line("fail 101.0 101.2 1290 write: The MariaDB server is running with "
                        "the --read-only option so it cannot execute this statement")
    assert failed is not None and not failed.ok
    assert failed.error == ("1290 write: The MariaDB server is running with the --read-only "
                            "option so it cannot execute this statement")
    assert failed.start == 101.0 and failed.end == 101.2


@pytest.mark.parametrize("line", ["end", "", "PHP Warning: something", "ok x y z",
                                  "ok 1.0", "fail 1.0 2.0"])
def test_parse_line_leaves_out_what_is_not_an_attempt(line: str) -> None:
    assert parse_line(line) is None


def test_probe_log_keeps_attempts_the_end_and_other_lines() -> None:
    log = ProbeLog()
    for line in ("ok 1.0 1.01 a", "fail 1.02 1.03 2002 connect: refused", "PHP Notice: x",
                 "ok 1.04 1.05 b"):
        log.add(line)
    assert not log.ended
    log.add("end")
    assert log.ended
    assert [a.token for a in log.ok] == ["a", "b"]
    assert [a.error for a in log.failed] == ["2002 connect: refused"]
    assert log.other == ["PHP Notice: x"]
    assert log.first_ok_after(1.02) == ok(1.04, 1.05, "b")
    assert log.first_ok_after(2.0) is None


# -- pauses and windows ------------------------------------------------------------------------

def test_longest_pause_is_the_largest_gap_between_completions_around_the_window() -> None:
    # Writes every 20 ms, then one held 1.5 s by ProxySQL (started 10.10, done 11.60).
    attempts = [ok(10.0, 10.01), ok(10.02, 10.03), ok(10.04, 10.05), ok(10.10, 11.60),
                ok(11.62, 11.63)]
    assert longest_pause(attempts, 10.06, 11.0) == pytest.approx(1.55)
    # The held write completes after the window: the pause still counts up to it.
    assert longest_pause(attempts, 10.5, 11.0) == pytest.approx(1.55)


def test_longest_pause_with_no_write_completing_runs_to_the_window_edges() -> None:
    assert longest_pause([], 5.0, 7.5) == pytest.approx(2.5)
    assert longest_pause([ok(4.0, 4.5)], 5.0, 7.5) == pytest.approx(3.0)  # 4.5 .. 7.5
    assert longest_pause([ok(8.0, 8.2)], 5.0, 7.5) == pytest.approx(3.2)  # 5.0 .. 8.2


def test_window_counts_what_ended_inside_and_keeps_distinct_errors() -> None:
    attempts = [ok(1.0), fail(2.0, error="e1"), fail(2.1, error="e1"), fail(2.2, error="e2"),
                ok(3.0), fail(9.0, error="late")]
    w = window(attempts, 1.5, 5.0)
    assert (w.ok, w.failed) == (1, 3)
    assert w.errors == ("e1", "e2")
    assert w.longest_pause_s == pytest.approx(2.0, abs=0.01)


# -- the outage after a crash -----------------------------------------------------------------

def test_outage_runs_from_the_crash_to_the_first_write_begun_after_it_that_succeeded() -> None:
    attempts = [ok(99.9, 99.95), fail(100.02, 102.0), fail(102.02, 104.0),
                ok(104.02, 107.5), ok(107.52)]
    assert outage_after(attempts, 100.0) == pytest.approx(7.5)
    assert outage_after(attempts, 107.51) == pytest.approx(0.015)
    assert outage_after(attempts[:3], 100.0) is None


def test_a_write_begun_before_the_crash_does_not_end_the_outage() -> None:
    # It began before the crash and was acknowledged after: not proof the new primary writes.
    attempts = [ok(99.99, 100.3), ok(105.0, 105.01)]
    assert outage_after(attempts, 100.0) == pytest.approx(5.01)


def test_a_write_the_dying_server_took_just_after_the_clock_read_does_not_end_it() -> None:
    # The kill's time is read just before kill -9: a write begun in those milliseconds can
    # still be acknowledged by the old primary. Only one acknowledged after the failover's
    # start (at 100.5) is the cluster serving again.
    attempts = [ok(100.001, 100.02), fail(100.03, 100.04), ok(104.0, 104.01)]
    assert outage_after(attempts, 100.0) == pytest.approx(0.02)
    assert outage_after(attempts, 100.0, ending_after=100.5) == pytest.approx(4.01)
    log = ProbeLog(list(attempts))
    assert log.first_ok_after(100.0, 100.5) == attempts[2]


# -- lost writes and transactions -------------------------------------------------------------

def test_lost_tokens_are_acknowledged_writes_missing_on_the_primary() -> None:
    assert lost_tokens(["a", "b", "", "c"], {"a", "c", "x"}) == ["b"]
    assert lost_tokens(["a"], {"a"}) == []


def test_lost_count_is_zero_when_the_new_primary_has_the_old_ones_history() -> None:
    assert lost_count("0-1-120", "0-1-120,0-2-130") == (0, [])


def test_lost_count_counts_the_old_primarys_transactions_the_new_one_lacks() -> None:
    # db1 (server_id 1) wrote up to 120; db2 got 117, was promoted and wrote 118..125.
    count, lines = lost_count("0-1-120", "0-1-117,0-2-125")
    assert count == 3
    assert lines and "0-1-120" in lines[0]
    count, _ = lost_count("0-1-120,1-1-7", "0-1-120")
    assert count == 7  # domain 1 never reached it


def test_notice_seconds_reads_the_failovers_confirm_down_line() -> None:
    said = ["checking that db1 is down, from the wizard, db2, db3 and px1, px2",
            "db1 is down: the wizard cannot reach it; db2 its IO thread lost it (x) (2.4 s)",
            "db2: chosen"]
    assert notice_seconds(said, "db1") == 2.4
    assert notice_seconds(said, "db2") is None
    assert notice_seconds([], "db1") is None


# -- targets ------------------------------------------------------------------------------------

def test_a_switchover_drill_misses_on_a_failed_write_or_a_lost_transaction() -> None:
    clean = window([ok(1.0), ok(1.5)], 0.9, 2.0)
    dirty = window([ok(1.0), fail(1.2, error="1290 write: read-only"), ok(1.5)], 0.9, 2.0)
    good = SwitchoverDrill((Leg("db1", "db2", 3.0, clean, 0), Leg("db2", "db1", 3.0, clean, 0)),
                           "INSERT", 0)
    assert good.missed() == []
    failed = SwitchoverDrill((Leg("db1", "db2", 3.0, dirty, 0),), "INSERT", 0)
    assert failed.missed() == ["db1 -> db2: 1 write(s) failed (1290 write: read-only)"]
    lost = SwitchoverDrill((Leg("db1", "db2", 3.0, clean, 2, ("0-1-9: ahead",)),), "x", None)
    assert "2 transaction(s) of db1 missing on db2" in lost.missed()[0]
    rows = SwitchoverDrill((Leg("db1", "db2", 3.0, clean, 0),), "INSERT", 4)
    assert rows.missed() == ["4 acknowledged write(s) missing on the primary"]
    assert any("longest pause 0.50 s" in line for line in good.summary())


def test_a_primary_drill_misses_when_the_cluster_does_not_end_as_it_started() -> None:
    done = PrimaryDrill("db1", "db2", outage_from_crash_s=8.0, rejoined=True, back=True)
    assert done.missed() == []
    refused = PrimaryDrill("db1", "db2", outage_from_crash_s=8.0,
                           notes=["rejoin db1 refused: it has 0-1-9"])
    assert refused.missed() == ["rejoin db1 refused: it has 0-1-9",
                                "the cluster did not end as it started (db1 the primary)"]
    never = PrimaryDrill("db1", "db2", back=True)
    assert never.missed() == ["no write succeeded through the VIP after the failover"]


def test_a_monitor_ping_counts_only_when_it_surely_began_after_the_wizards_try() -> None:
    """A ping that succeeded just before the crash (the try came moments after it) must not
    pass for a primary still alive: that refused a due failover in the 1 GB benchmark."""
    from moodle_wizard.core.operate.down import SKEW_S, monitor_since_us

    tried = 1_796_170_000.0
    since = monitor_since_us(tried)
    before_crash = int((tried - 0.5) * 1e6)  # the monitor's last good ping, then kill -9
    assert before_crash < since
    # Stamped by a proxy whose clock runs SKEW_S ahead: it began at the try, not before.
    assert since <= int((tried + SKEW_S) * 1e6)
    assert int((tried + SKEW_S + 0.5) * 1e6) >= since
