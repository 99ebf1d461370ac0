"""A replica catching up from an existing backup: the gap in transactions, the rate, the
estimate, the lines' pace and the stall (core/steps/replicas/catchup.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from moodle_wizard.core.events import Event, OutputLine
from moodle_wizard.core.sql.gtid import parse_position
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.replicas import consistency
from moodle_wizard.core.steps.replicas.catchup import CatchUp, count, eta, transactions_behind
from tests.unit.test_consistency import Cluster, step_on


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


class _Replica:
    """db2 applying `step` transactions a poll, up to the source's 0-1-100."""

    def __init__(self, step: int) -> None:
        self.seq, self.step = 0, step

    async def one(self, sql: str, args: Any = None) -> dict[str, Any]:
        assert sql == "SELECT @@gtid_slave_pos AS p"
        self.seq = min(100, self.seq + self.step)
        return {"p": f"0-1-{self.seq}"}


def _replicas_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   replica: _Replica) -> tuple[Any, list[Event]]:
    step, events = step_on(tmp_path, monkeypatch, Cluster({"mdl_user": 1}))

    async def db(name: str) -> _Replica:
        return replica

    async def status(r: str) -> Any:
        done = replica.seq == 100
        return SimpleNamespace(healthy=True, seconds_behind=0 if done else 5,
                               io_running="Yes", sql_running="Yes")

    async def source_position() -> str:
        return "0-1-100"

    monkeypatch.setattr(step.ctx, "db", db)
    monkeypatch.setattr(step, "_replicating_status", status)
    monkeypatch.setattr(step, "_source_position", source_position)
    monkeypatch.setattr(consistency, "CATCH_UP_POLL_S", 0.001)
    return step, events


async def test_a_catch_up_is_waited_for_and_told_while_the_gap_closes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    step, events = _replicas_step(tmp_path, monkeypatch, _Replica(step=10))
    await asyncio.wait_for(step._catch_up("db2"), 10)
    lines = [e.line for e in events if isinstance(e, OutputLine)]
    assert lines and lines[0].startswith("db2: catching up with db1: 90 transactions behind "
                                         "(db2 at 0-1-10, db1 at 0-1-100)")


async def test_a_catch_up_that_makes_no_progress_stops_with_a_clear_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    step, _ = _replicas_step(tmp_path, monkeypatch, _Replica(step=0))
    monkeypatch.setattr(consistency, "LAG_TIMEOUT_S", 0.05)
    with pytest.raises(StepError, match=r"^db2: no progress catching up with db1 for 0 s "
                                        r"\(100 transactions behind; io=Yes sql=Yes\)"):
        await asyncio.wait_for(step._catch_up("db2"), 10)
