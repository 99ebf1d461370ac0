"""Wait for a condition with a deadline: the one polling loop of the engine.

Remote state (a replica catching up, keepalived electing a VIP holder, ProxySQL's monitor placing
servers) settles in its own time; the wizard asks again every `interval_s` until the answer is
there or `timeout_s` has passed. The order is the one every hand-written loop had: check, done?
deadline passed? sleep, again. So the check runs at least once (also with a zero timeout), and
an answer that arrives during the last sleep is still seen before the timeout is raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from moodle_wizard.core.errors import StepError

T = TypeVar("T")

__all__ = ["PollTimeout", "poll_until"]


class PollTimeout(StepError):
    """The condition did not come true in time; the message is the caller's `what`."""

    def __init__(self, message: str, timeout_s: float | None) -> None:
        super().__init__(message)
        self.timeout_s = timeout_s


async def poll_until(check: Callable[[], Awaitable[T | None]], *, timeout_s: float | None,
                     interval_s: float, what: str | Callable[[], str],
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    """The first value `check` returns that is not None.

    None means "not yet". After `timeout_s` (None: no limit) PollTimeout is raised with `what`
    as its whole message; a callable `what` is called then, so the message can name what the
    last check saw (the holders now, the lag now). An exception from `check` ends the wait at
    once: a check that wants to retry on an error catches it and returns None.
    """
    deadline = None if timeout_s is None else clock() + timeout_s
    while True:
        result = await check()
        if result is not None:
            return result
        if deadline is not None and clock() > deadline:
            raise PollTimeout(what() if callable(what) else what, timeout_s)
        await sleep(interval_s)
