"""A replica catching up from an existing backup: the gap in transactions, the rate, the
estimate, the lines' pace and the stall (core/steps/replicas/catchup.py)."""

from __future__ import annotations

from moodle_wizard.core.sql.gtid import parse_position
from moodle_wizard.core.steps.replicas.catchup import CatchUp, count, eta, transactions_behind


def test_transactions_behind_counts_every_domain_of_the_source() -> None:
    source = parse_position("0-1-9000,1-1-50")
    assert transactions_behind(source, parse_position("0-1-5230")) == 3770 + 50
    assert transactions_behind(source, parse_position("0-1-9000,1-1-50")) == 0
    # A replica ahead in a domain (its own writes) is not behind there.
    assert transactions_behind(source, parse_position("0-1-9100,1-1-40")) == 10


def test_lines_show_the_rate_and_the_time_left_and_come_every_few_seconds() -> None:
    c = CatchUp("db2", "db1")
    first = c.add(0.0, 10_000, "db2 at 0-1-1, db1 at 0-1-10001")
    assert first == ("db2: catching up with db1: 10,000 transactions behind "
                     "(db2 at 0-1-1, db1 at 0-1-10001)")
    assert c.add(2.0, 8_000) is None  # not yet due
    line = c.add(5.0, 5_000)
    assert line == ("db2: catching up with db1: 5,000 transactions behind, applying "
                    "1,000/s, about 5 s to go")


def test_a_gap_that_stops_closing_is_a_stall_and_a_closing_one_is_not() -> None:
    c = CatchUp("db2", "db1")
    c.add(0.0, 100)
    c.add(60.0, 100)
    assert not c.stalled(60.0, 120)
    c.add(130.0, 100)
    assert c.stalled(130.0, 120)
    c.add(131.0, 99)  # a new low: progress again
    assert not c.stalled(131.0, 120)
    done = CatchUp("db3", "db1")
    done.add(0.0, 0)
    assert not done.stalled(500.0, 120)


def test_counts_and_estimates_read_as_a_person_would_say_them() -> None:
    assert count(999) == "999" and count(1_234_567) == "1.2 million"
    assert eta(0.2) == "1 s" and eta(45) == "45 s" and eta(12 * 60) == "12 min"
    assert eta(3 * 3600 + 20 * 60) == "3 h 20 min"
