"""The engine runs beside the UI, never in it.

Every engine operation (test connections, discover, run, rollback, health) runs in ONE
App-level thread worker (group "engine", exclusive) with an asyncio loop of its own, so
nothing the engine does - SSH handshakes, fsync of the journal, a sync secret prompt - can
stall the screen. What crosses between the two threads, and how:

- engine events: appended to a locked deque; the first event after a drain posts ONE
  `EngineEvents` message (post_message is thread-safe), and the app drains up to DRAIN_LIMIT
  of them per turn of its loop. A flood of output lines costs the UI one message per batch,
  not one per line; past BACKLOG waiting events the engine thread is slowed (backpressure).
- results of an operation: `OpMessage` (progress payloads) and `OpDone`, posted to the app.
  Each operation is a typed request (operations.py); OpDone carries it, so the app handles an
  outcome by the request's type, not by a name.
- questions (the engine's confirm, a new SSH host key, a missing secret): `AskOperator`
  carries a factory for the modal and a concurrent Future; the app pushes the modal on its
  own loop and resolves the Future when the operator answers. The engine thread awaits it
  (`asyncio.wrap_future`), or, for the engine's synchronous secret prompt, waits on it while
  watching for cancellation.
- cancellation: Textual cancels a worker by flag. The operation's loop watches that flag and
  cancels the engine's task, which journals the interruption and closes its connections, so
  quitting the wizard mid-step leaves the state saved and the remote job running.

Operations never overlap: a lock is held for the whole life of each one, so a new operation
waits for a cancelled one to finish journaling before it starts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from textual.app import App
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, get_current_worker

from moodle_wizard.core.events import Event
from moodle_wizard.tui.operations import Operation, named

Work = Callable[["SessionIO"], Awaitable[Any]]
ScreenFactory = Callable[[], Screen[Any]]

# How often an operation's loop looks at the worker's cancel flag.
CANCEL_POLL_S = 0.05
# Engine events the UI takes in one turn of its loop (a flood of output lines is spread over
# several turns, each short).
DRAIN_LIMIT = 500
# Backpressure: when this many events wait for the UI, the engine thread pauses briefly after
# each one, so that a CPU-bound stream (tens of thousands of lines a second) cannot starve the
# UI's thread of the interpreter lock. The engine slows down a little; the screen does not.
BACKLOG = 2000
BACKLOG_PAUSE_S = 0.001


class EngineEvents(Message):
    """Engine events are waiting: drain them with EngineRunner.drain()."""


class OpMessage(Message):
    """Something an operation reports while it runs (a host checked, a state snapshot)."""

    def __init__(self, op: str, payload: Any) -> None:
        super().__init__()
        self.op = op
        self.payload = payload


class OpDone(Message):
    """An operation ended: with its result, its error, or cancelled."""

    def __init__(self, request: Operation[Any], result: Any = None,
                 error: BaseException | None = None, cancelled: bool = False) -> None:
        super().__init__()
        self.request = request
        self.op = request.name
        self.result = result
        self.error = error
        self.cancelled = cancelled


class AskOperator(Message):
    """Open a modal and resolve `answer` with what it is dismissed with."""

    def __init__(self, make_screen: ScreenFactory) -> None:
        super().__init__()
        self.make_screen = make_screen
        self.answer: concurrent.futures.Future[Any] = concurrent.futures.Future()


class WithdrawQuestion(Message):
    """The engine no longer waits for this answer (its operation was cancelled)."""

    def __init__(self, answer: concurrent.futures.Future[Any]) -> None:
        super().__init__()
        self.answer = answer


class SessionIO:
    """What an operation may do to reach the UI, from the engine's thread."""

    def __init__(self, runner: EngineRunner, worker: Worker[Any], op: str) -> None:
        self.runner = runner
        self.worker = worker
        self.op = op

    # -- one way --

    def emit(self, event: Event) -> None:
        self.runner.enqueue(event)

    def post(self, payload: Any) -> None:
        self.runner.app.post_message(OpMessage(self.op, payload))

    # -- questions --

    async def ask(self, make_screen: ScreenFactory) -> Any:
        message = AskOperator(make_screen)
        self.runner.app.post_message(message)
        try:
            return await asyncio.wrap_future(message.answer)
        finally:
            if not message.answer.done():
                message.answer.cancel()
                self.runner.app.post_message(WithdrawQuestion(message.answer))

    def ask_blocking(self, make_screen: ScreenFactory) -> Any:
        """For the engine's synchronous hooks: blocks this (engine) thread only."""
        message = AskOperator(make_screen)
        self.runner.app.post_message(message)
        while True:
            try:
                return message.answer.result(timeout=CANCEL_POLL_S)
            except concurrent.futures.TimeoutError:
                if self.worker.is_cancelled:
                    message.answer.cancel()
                    self.runner.app.post_message(WithdrawQuestion(message.answer))
                    return None

    async def confirm(self, message: str, risky: bool) -> bool:
        from moodle_wizard.tui.screens.confirm import ConfirmModal

        return bool(await self.ask(lambda: ConfirmModal(message, risky=risky)))

    async def ask_host_key(self, host: str, fingerprint: str) -> bool:
        from moodle_wizard.tui.screens.host_key import HostKeyModal

        address = self.runner.addresses.get(host, "")
        return bool(await self.ask(lambda: HostKeyModal(host, address, fingerprint)))

    def prompt(self, question: str) -> str:
        """The engine's secret prompt: a masked modal; the answer stays in this process's
        memory (so one question is asked once per wizard), never on disk."""
        cached = self.runner.secret_answers.get(question)
        if cached is not None:
            return cached
        from moodle_wizard.tui.screens.secret import SecretModal

        answer = self.ask_blocking(lambda: SecretModal(question))
        value = str(answer or "")
        if value:
            self.runner.secret_answers[question] = value
        return value


class EngineRunner:
    GROUP = "engine"

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self._queue: deque[Event] = deque()
        self._lock = threading.Lock()
        self._posted = False
        self._serial = threading.Lock()
        self._ui_thread = threading.get_ident()
        self.worker: Worker[Any] | None = None
        self.request: Operation[Any] | None = None
        self.current: str | None = None  # the request's name, for what the screens say
        self._active = False
        # Answers to the engine's secret prompts: memory only.
        self.secret_answers: dict[str, str] = {}
        # host name -> address, for the host-key modal (the engine asks by name).
        self.addresses: dict[str, str] = {}

    @property
    def busy(self) -> bool:
        """An operation was started and the app has not yet handled its OpDone."""
        return self._active

    def finished(self) -> None:
        """The app handled the current operation's OpDone (called on the UI thread)."""
        self._active = False

    # -- events: engine thread -> UI --

    def enqueue(self, event: Event) -> None:
        with self._lock:
            self._queue.append(event)
            backlog = len(self._queue)
            post = not self._posted
            self._posted = True
        if post:
            self.app.post_message(EngineEvents())
        elif backlog > BACKLOG and threading.get_ident() != self._ui_thread:
            time.sleep(BACKLOG_PAUSE_S)

    def drain(self, limit: int = DRAIN_LIMIT) -> list[Event]:
        """Up to `limit` queued events. If more are waiting, another EngineEvents is posted
        so the UI handles them in the next turn, after a redraw and the operator's keys."""
        with self._lock:
            count = min(limit, len(self._queue))
            events = [self._queue.popleft() for _ in range(count)]
            more = bool(self._queue)
            self._posted = more
        if more:
            self.app.post_message(EngineEvents())
        return events

    # -- operations --

    def start(self, op: Operation[Any] | str, work: Work) -> Worker[Any]:
        """Run `work` for the request `op` (or the request a bare name stands for) in the
        engine thread. The UI must not start a second operation while one is busy; if it
        does, the first is cancelled (exclusive) and the second waits for it to wind down
        before starting."""
        request = named(op) if isinstance(op, str) else op
        self.request, self.current = request, request.name
        self._active = True

        def thread_main() -> Any:
            with self._serial:
                return asyncio.run(self._main(request, work))

        self.worker = self.app.run_worker(thread_main, name=request.name, group=self.GROUP,
                                          exclusive=True, thread=True, exit_on_error=False)
        return self.worker

    def running(self, *kinds: type[Operation[Any]]) -> bool:
        """An operation of one of these kinds is busy."""
        return self._active and isinstance(self.request, kinds)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    async def _main(self, op: Operation[Any], work: Work) -> Any:
        worker = get_current_worker()
        io = SessionIO(self, worker, op.name)
        task = asyncio.ensure_future(work(io))
        while not task.done():
            await asyncio.wait({task}, timeout=CANCEL_POLL_S)
            if not task.done() and worker.is_cancelled:
                task.cancel()
                await asyncio.wait({task})
        if task.cancelled():
            self.app.post_message(OpDone(op, cancelled=True))
            return None
        error = task.exception()
        if error is not None:
            self.app.post_message(OpDone(op, error=error))
            return None
        result = task.result()
        self.app.post_message(OpDone(op, result=result))
        return result
