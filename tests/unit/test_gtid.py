"""MariaDB GTID positions and states: parsing, comparing, errant transactions (core/sql/gtid.py)."""

from __future__ import annotations

import pytest

from moodle_wizard.core.errors import OperatorError
from moodle_wizard.core.sql.gtid import (
    Gtid,
    GtidError,
    GtidPosition,
    beyond,
    has_applied,
    most_advanced,
    parse_gtid,
    parse_position,
    parse_state,
)


def pos(text: str) -> GtidPosition:
    return parse_position(text)


# --- parsing ------------------------------------------------------------------------------


def test_parse_several_domains_sorted_and_printed_back() -> None:
    p = pos("1-2-5,0-1-100")
    assert p.gtids == (Gtid(0, 1, 100), Gtid(1, 2, 5))
    assert p.domains == frozenset({0, 1})
    assert p.get(1) == Gtid(1, 2, 5)
    assert p.get(7) is None
    assert str(p) == "0-1-100,1-2-5"


@pytest.mark.parametrize("text", ["", "   ", "\n", "\t \n"])
def test_empty_position(text: str) -> None:
    p = pos(text)
    assert p.gtids == ()
    assert not p
    assert str(p) == ""


def test_whitespace_and_wrapped_lines_ignored() -> None:
    assert pos("  0-1-100,\n 1-2-5 \n") == pos("0-1-100,1-2-5")
    assert parse_gtid(" 0-1-7\n") == Gtid(0, 1, 7)


@pytest.mark.parametrize("text", [
    "0-1", "0-1-x", "a-b-c", "0-1-100,", ",0-1-100", "0-1-100,,1-2-5", "-0-1-5", "0--1-5",
    "0-1-100;1-2-5", "0 1 100", "NULL", "0-1-1 00", "0-1-\u0661",
])
def test_garbage_refused_with_one_operator_line(text: str) -> None:
    with pytest.raises(GtidError) as err:
        pos(text)
    assert isinstance(err.value, OperatorError)
    assert err.value.bad_input
    message = str(err.value)
    assert "\n" not in message
    assert "domain-server_id-seq_no" in message


def test_mysql_gtid_set_refused_as_out_of_scope() -> None:
    with pytest.raises(GtidError, match="MySQL sources are not supported"):
        pos("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7-9")


def test_numbers_out_of_range_refused() -> None:
    assert parse_gtid(f"{2**32 - 1}-{2**32 - 1}-{2**64 - 1}").seq_no == 2**64 - 1
    for text in (f"{2**32}-1-1", f"0-{2**32}-1", f"0-1-{2**64}"):
        with pytest.raises(GtidError, match="out of range"):
            parse_gtid(text)


def test_position_refuses_a_domain_twice_state_accepts_it() -> None:
    with pytest.raises(GtidError, match="domain 0 appears twice"):
        pos("0-1-100,0-2-150")
    state = parse_state("0-1-100,0-2-150,1-2-5")
    assert state.last(0) == Gtid(0, 2, 150)
    assert state.get(0, 1) == Gtid(0, 1, 100)
    assert state.position() == pos("0-2-150,1-2-5")
    with pytest.raises(GtidError, match="server_id 1 appears twice"):
        parse_state("0-1-100,0-1-90")


# --- has applied ----------------------------------------------------------------------------


def test_has_applied_per_domain_seq_no() -> None:
    primary = pos("0-1-100,1-2-5")
    assert has_applied(pos("0-1-100,1-2-5"), primary)
    assert has_applied(pos("0-1-101,1-2-9"), primary)
    assert not has_applied(pos("0-1-99,1-2-5"), primary)
    assert not has_applied(pos("0-1-100,1-2-4"), primary)


def test_has_applied_a_domain_only_one_side_has() -> None:
    # B lacks a domain A has: not applied. B has an extra domain: irrelevant to the question.
    assert not has_applied(pos("0-1-100"), pos("0-1-100,1-2-5"))
    assert has_applied(pos("0-1-100,1-2-5"), pos("0-1-100"))


def test_has_applied_empty_positions() -> None:
    assert has_applied(pos(""), pos(""))
    assert has_applied(pos("0-1-1"), pos(""))
    assert not has_applied(pos(""), pos("0-1-1"))


def test_same_seq_no_from_another_server_is_not_applied() -> None:
    assert not has_applied(pos("0-3-100"), pos("0-1-100"))
    # A higher seq_no from another server counts by seq_no (errant checks are separate).
    assert has_applied(pos("0-2-101"), pos("0-1-100"))


# --- most advanced ------------------------------------------------------------------------


def test_most_advanced_single() -> None:
    leaders = most_advanced({"db2": pos("0-1-100"), "db3": pos("0-1-98"), "db4": pos("")})
    assert leaders.names == ("db2",)
    assert leaders.single == "db2"
    assert not leaders.tie and not leaders.incomparable


def test_most_advanced_tie_reported_not_broken() -> None:
    leaders = most_advanced({"db3": pos("0-1-100"), "db2": pos("0-1-100"), "db4": pos("0-1-9")})
    assert leaders.names == ("db2", "db3")
    assert leaders.tie
    assert leaders.single is None


def test_most_advanced_more_domains_wins() -> None:
    leaders = most_advanced({"db2": pos("0-1-100"), "db3": pos("0-1-100,1-2-1")})
    assert leaders.names == ("db3",)


def test_most_advanced_incomparable_is_not_a_tie() -> None:
    leaders = most_advanced({"db2": pos("0-1-100,1-2-3"), "db3": pos("0-1-90,1-2-9")})
    assert leaders.names == ("db2", "db3")
    assert leaders.incomparable and not leaders.tie
    diverged = most_advanced({"db2": pos("0-1-100"), "db3": pos("0-4-100")})
    assert diverged.incomparable and not diverged.tie


def test_most_advanced_of_nothing_is_a_bug() -> None:
    with pytest.raises(ValueError):
        most_advanced({})


# --- errant transactions / what one side lacks ---------------------------------------------


def test_nothing_beyond_a_caught_up_or_lagging_replica() -> None:
    primary = pos("0-1-100,1-1-7")
    for replica in ("0-1-100,1-1-7", "0-1-50", "", "0-1-100"):
        found = beyond(pos(replica), primary)
        assert not found and found.proven == () and found.doubts == (), replica


def test_errant_domain_the_primary_never_had() -> None:
    found = beyond(pos("0-1-100,5-3-2"), pos("0-1-100"))
    assert [f.have for f in found.proven] == [Gtid(5, 3, 2)]
    assert "domain 5 is not in" in str(found.proven[0])


def test_errant_seq_no_ahead_of_the_primary() -> None:
    found = beyond(pos("0-2-103"), pos("0-1-100"))
    assert [(f.have, f.other) for f in found.proven] == [(Gtid(0, 2, 103), Gtid(0, 1, 100))]
    assert beyond(pos("0-1-101"), pos("0-1-100"))  # same server, still more than the primary


def test_errant_same_seq_no_from_another_server_is_divergence() -> None:
    found = beyond(pos("0-3-100"), pos("0-1-100"))
    assert found and "diverged" in str(found.proven[0])


def test_position_alone_cannot_prove_an_older_gtid_from_another_server() -> None:
    # db2 is primary now (0-2-150); the replica's last GTID is the old primary's 0-1-90.
    found = beyond(pos("0-1-90"), pos("0-2-150"))
    assert not found
    assert [f.have for f in found.doubts] == [Gtid(0, 1, 90)]
    assert "gtid_binlog_state" in str(found.doubts[0])


def test_primary_state_settles_what_its_position_cannot() -> None:
    history = parse_state("0-1-100,0-2-150")
    assert not beyond(pos("0-1-90"), history) and not beyond(pos("0-1-90"), history).doubts
    # The old primary wrote 101..120 after the new one last received from it.
    lost = beyond(pos("0-1-120"), history)
    assert [(f.have, f.other) for f in lost.proven] == [(Gtid(0, 1, 120), Gtid(0, 1, 100))]
    # A server_id the primary's history never had in that domain.
    stranger = beyond(pos("0-7-140"), history)
    assert "server_id 7 never wrote in domain 0" in str(stranger.proven[0])


def test_replica_state_shows_an_errant_write_its_position_hides() -> None:
    primary = parse_state("0-1-100")
    # The replica wrote 0-2-51 itself, then replicated 0-1-52..100: its position looks fine.
    replica_state = parse_state("0-2-51,0-1-100")
    assert not beyond(replica_state.position(), primary)
    found = beyond(replica_state, primary)
    assert [f.have for f in found.proven] == [Gtid(0, 2, 51)]
