"""poll_until: the engine's one wait-for-a-condition loop, on a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from moodle_wizard.core.errors import OperatorError, StepError
from moodle_wizard.core.poll import PollTimeout, poll_until


class FakeClock:
    """Time moves only when the poll sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def answers(*values: object) -> tuple[list[int], Callable[[], Awaitable[object | None]]]:
    """A check that returns `values` in turn (the last one for ever), counting its calls."""
    calls = [0]

    async def check() -> object | None:
        calls[0] += 1
        return values[min(calls[0], len(values)) - 1]

    return calls, check


def test_returns_the_first_answer_and_does_not_sleep_when_it_is_there_at_once() -> None:
    clock = FakeClock()
    calls, check = answers("ready")
    got = asyncio.run(poll_until(check, timeout_s=10, interval_s=0.5, what="x",
                                 clock=clock, sleep=clock.sleep))
    assert got == "ready"
    assert calls == [1]
    assert clock.sleeps == []


def test_waits_with_the_interval_until_the_answer_comes() -> None:
    clock = FakeClock()
    calls, check = answers(None, None, 0)  # 0 is an answer: only None means "not yet"
    got = asyncio.run(poll_until(check, timeout_s=10, interval_s=0.5, what="x",
                                 clock=clock, sleep=clock.sleep))
    assert got == 0
    assert calls == [3]
    assert clock.sleeps == [0.5, 0.5]


def test_timeout_is_a_step_error_with_the_callers_message() -> None:
    clock = FakeClock()
    calls, check = answers(None)
    with pytest.raises(PollTimeout) as raised:
        asyncio.run(poll_until(check, timeout_s=2, interval_s=0.5,
                               what="db2: replication not caught up after 2 s",
                               clock=clock, sleep=clock.sleep))
    assert isinstance(raised.value, StepError)
    assert isinstance(raised.value, OperatorError), "the operator's to fix: no traceback"
    assert str(raised.value) == "db2: replication not caught up after 2 s"
    assert raised.value.timeout_s == 2
    # Checked at 0, 0.5, ... 2.0 and once more past the deadline, then given up.
    assert calls == [6]
    assert clock.now == pytest.approx(102.5)


def test_the_message_can_name_what_the_last_check_saw() -> None:
    clock = FakeClock()
    seen: list[int] = []

    async def check() -> None:
        seen.append(len(seen))

    with pytest.raises(PollTimeout, match=r"lag is 3$"):
        asyncio.run(poll_until(check, timeout_s=1, interval_s=0.5,
                               what=lambda: f"lag is {seen[-1]}",
                               clock=clock, sleep=clock.sleep))


def test_zero_timeout_still_checks_once() -> None:
    clock = FakeClock()
    calls, check = answers(None)
    with pytest.raises(PollTimeout):
        asyncio.run(poll_until(check, timeout_s=0, interval_s=1,
                               what="never", clock=clock, sleep=clock.sleep))
    assert calls[0] >= 1


def test_no_timeout_waits_as_long_as_it_takes() -> None:
    clock = FakeClock()
    calls, check = answers(*([None] * 1000), "done")
    got = asyncio.run(poll_until(check, timeout_s=None, interval_s=60,
                                 what="x", clock=clock, sleep=clock.sleep))
    assert got == "done"
    assert calls == [1001]


def test_an_error_in_the_check_ends_the_wait_at_once() -> None:
    clock = FakeClock()

    async def check() -> None:
        raise StepError("db2: replication error: 1062")

    with pytest.raises(StepError, match="1062") as raised:
        asyncio.run(poll_until(check, timeout_s=60, interval_s=0.5, what="x",
                               clock=clock, sleep=clock.sleep))
    assert not isinstance(raised.value, PollTimeout)
    assert clock.sleeps == []


def test_real_clock_and_sleep_by_default() -> None:
    """With the real clock: a condition that becomes true is returned, one that never does
    times out (short real deadlines; what is asserted is the outcome, not the timing)."""
    state = {"n": 0}

    async def soon() -> str | None:
        state["n"] += 1
        return "ok" if state["n"] >= 3 else None

    async def never() -> None:
        return None

    assert asyncio.run(poll_until(soon, timeout_s=5, interval_s=0.001, what="x")) == "ok"
    with pytest.raises(PollTimeout, match="never came"):
        asyncio.run(poll_until(never, timeout_s=0.02, interval_s=0.005, what="never came"))
