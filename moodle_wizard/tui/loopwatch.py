"""How long the UI's event loop was ever kept from running: the largest stall.

A task on the UI loop asks to wake every `interval` seconds and records how late it woke.
Anything that blocks the loop (a synchronous call in a handler, a slow render) shows up as
lateness. Off by default; on with MOODLE_WIZARD_LOOPWATCH=1 (the value is logged on exit) and
in the tests that measure it.
"""

from __future__ import annotations

import asyncio
import time


class LoopWatch:
    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.max_stall = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def reset(self) -> None:
        self.max_stall = 0.0
        self.samples = 0

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval)
            late = time.perf_counter() - before - self.interval
            self.samples += 1
            if late > self.max_stall:
                self.max_stall = late
