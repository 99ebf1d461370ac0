"""Figures 10 and 11 of `make bench`: the drills' JSON summed up, and their rows' verdicts."""

from __future__ import annotations

from typing import Any

from bench.operate import summarize_failover, summarize_switchover
from bench.report import operate_rows


def leg(ok: int, failed: int, pause: float, lost: int = 0, seconds: float = 3.0,
        ) -> dict[str, Any]:
    return {"old": "db1", "new": "db2", "seconds": seconds, "lost": lost, "lost_lines": [],
            "writes": {"ok": ok, "failed": failed, "longest_pause_s": pause,
                       "errors": ["1290 write: read-only"] if failed else []}}


def failover(outage: float | None, back: bool = True, failed: int = 5) -> dict[str, Any]:
    return {"outage_from_crash_s": outage, "outage_from_failover_s": outage and outage - 3,
            "notice_s": 1.5, "failover_s": 6.0, "writes": {"ok": 1, "failed": failed},
            "rows_lost": 0, "lost": 0, "back": back}


def test_switchover_summary_adds_legs_and_takes_the_worst_pause() -> None:
    runs = [{"legs": [leg(100, 0, 0.4), leg(90, 0, 1.1)], "rows_lost": 0},
            {"legs": [leg(80, 2, 0.6, lost=1), leg(95, 0, 0.5)], "rows_lost": 3}]
    s = summarize_switchover(runs)
    assert (s["legs"], s["writes_ok"], s["writes_failed"]) == (4, 365, 2)
    assert s["longest_pause_s"] == 1.1 and s["median_pause_s"] == 0.55
    assert (s["transactions_lost"], s["rows_lost"]) == (1, 3)
    assert s["errors"] == ["1290 write: read-only"]


def test_switchover_row_is_met_only_with_nothing_failed_or_lost_and_a_short_pause() -> None:
    good = {"switchover": summarize_switchover([{"legs": [leg(100, 0, 0.4)],
                                                 "rows_lost": 0}])}
    assert operate_rows(good)[0].endswith("| met |")
    for bad in (leg(100, 1, 0.4), leg(100, 0, 2.5), leg(100, 0, 0.4, lost=1)):
        row = operate_rows({"switchover": summarize_switchover([{"legs": [bad],
                                                                 "rows_lost": 0}])})[0]
        assert row.endswith("| **missed** |"), row


def test_failover_summary_takes_medians_and_says_whether_the_cluster_came_back() -> None:
    s = summarize_failover([failover(8.0), failover(10.0), failover(None, back=False)])
    assert s["outage_from_kill_s"] == 9.0 and s["outage_from_failover_start_s"] == 6.0
    assert s["writes_failed"] == 15 and s["ended_as_started"] is False
    row = operate_rows({"failover": s})[0]
    assert "write outage 9.0 s from the kill" in row and row.endswith("| reported |")
