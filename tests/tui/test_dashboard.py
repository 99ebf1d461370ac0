"""Screen 9: rows, live log, stream progress, questions from the engine, stop, and rollback -
the rollback confirmation and a real rollback by the real engine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from moodle_wizard.core import events as ev
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.clock import FixedClock
from moodle_wizard.tui.runner import SessionIO
from moodle_wizard.tui.screens.confirm import ConfirmModal
from moodle_wizard.tui.screens.dashboard import DashboardScreen
from moodle_wizard.tui.screens.rollback import RollbackModal
from moodle_wizard.tui.screens.secret import SecretModal
from moodle_wizard.tui.widgets.step_log import StepLog
from moodle_wizard.tui.widgets.step_table import StepTable
from moodle_wizard.tui.widgets.stream_progress import StreamProgressBar
from tests.tui.conftest import save_migration, screen_text, wait_for

MakeApp = Callable[..., WizardApp]


async def dashboard(app: WizardApp, pilot: object, path: Path) -> DashboardScreen:
    assert app.open_saved(path)
    app.goto("dashboard")
    await pilot.pause()  # type: ignore[attr-defined]
    assert isinstance(app.screen, DashboardScreen)
    return app.screen


async def test_rows_come_from_the_journal(make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done",
                                               "replicas": "failed"},
                          errors={"replicas": "CancelledError: "})
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await dashboard(app, pilot, path)
        shown = screen_text(app)
        assert "Prepare the source" in shown and "✓ done" in shown and "42.0 s" in shown
        assert "✗ FAILED" in shown
        screen.query_one(StepTable).select("replicas")
        await pilot.pause()
        shown = screen_text(app)
        assert "Seed the replicas: interrupted (the wizard stopped); resume reattaches" in shown
        assert "Stopped. r resumes from the journal." in shown


async def test_live_events_log_progress_and_an_engine_question(
        make_app: MakeApp, state_dir: Path, clock: FixedClock) -> None:
    """The real runner and dashboard, fed by a scripted operation in the engine thread (the
    lab is not ours to migrate here; tests/lab drives the real engine end to end)."""
    path = save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done"})
    answers: list[bool] = []
    go_on = asyncio.Event()

    async def scripted(io: SessionIO) -> None:
        io.emit(ev.StepStarted("replicas", "Seed the replicas"))
        io.emit(ev.ActionStarted("replicas", "stream", "Stream one physical backup"))
        io.emit(ev.OutputLine("replicas", "db1", "[00] Streaming ./ibdata1"))
        io.emit(ev.Progress("replicas", "seed stream", 64_000_000, 128_000_000))
        answers.append(await io.confirm("db2's datadir is not empty. Move it aside?", True))
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(go_on.wait(), loop))

    loop = asyncio.get_running_loop()
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await dashboard(app, pilot, path)
        app.runner.start("run", scripted)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="question")
        await pilot.pause()
        modal = app.screen
        assert modal.has_class("-risky") and app.focused is not None
        assert app.focused.id == "no", "a risky question starts on No"
        await pilot.press("enter")
        await wait_for(pilot, lambda: answers == [False], what="the answer")
        clock.advance(2)
        app.runner.enqueue(ev.Progress("replicas", "seed stream", 96_000_000, 128_000_000))
        await wait_for(pilot, lambda: "75%" in screen_text(app), what="progress")
        assert screen.query_one(StepTable).selected == "replicas", "focus follows the step"
        shown = screen_text(app)
        assert "▶ running" in shown and "Seed the replicas" in shown
        # The rate beside the bar (the app's own: this Progress carries none), the bytes and
        # the time left under it.
        assert "75%  16.0 MB/s" in shown
        assert "seed stream: 96.0 MB of ~128.0 MB (75%), ~2 s left" in shown
        assert screen.query_one(StreamProgressBar).display
        log = screen.query_one(StepLog)
        assert any("db1: [00] Streaming ./ibdata1" in line for line in log.lines)
        assert app.screen.check_action("rollback", ()) is None, "no rollback while it runs"
        loop.call_soon(go_on.set)
        await wait_for(pilot, lambda: not app.runner.busy, what="the end")


async def test_stop_cancels_the_engine_and_says_the_state_is_saved(
        make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(state_dir, statuses={"discover": "done"})

    async def endless(io: SessionIO) -> None:
        io.emit(ev.StepStarted("prepare-source", "Prepare the source"))
        await asyncio.Event().wait()

    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await dashboard(app, pilot, path)
        app.runner.start("run", endless)
        await wait_for(pilot, lambda: app.run_model.active == "prepare-source", what="start")
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.runner.busy, what="the engine to stop")
        assert app.run_model.message and "stopped" in app.run_model.message
        assert "the state is saved" in screen_text(app)


async def test_the_engines_secret_prompt_is_masked_and_kept_in_memory(
        make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(state_dir, statuses={"discover": "done"})
    got: list[str] = []

    async def asks(io: SessionIO) -> None:
        got.append(io.prompt("password of the replication user: "))
        got.append(io.prompt("password of the replication user: "))

    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await dashboard(app, pilot, path)
        app.runner.start("run", asks)
        await wait_for(pilot, lambda: isinstance(app.screen, SecretModal), what="the prompt")
        await pilot.press(*"hunter22", "enter")
        await wait_for(pilot, lambda: not app.runner.busy, what="the end")
        assert got == ["hunter22", "hunter22"], "asked once, then remembered"
        assert "hunter22" not in screen_text(app)
    assert "hunter22" not in "".join(p.read_text() for p in state_dir.iterdir())


async def test_rollback_confirmation_lists_exactly_what_is_undone_and_no_does_nothing(
        make_app: MakeApp, state_dir: Path) -> None:
    path = save_migration(
        state_dir, statuses={"discover": "done", "prepare-source": "done", "replicas": "done"},
        facts={"prepare-source": {"accounts_created": [["mw_repl", "10.77.0.12"]]},
               "replicas": {"configured": ["db2", "db3"]}})
    before = path.read_text()
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await dashboard(app, pilot, path)
        screen.query_one(StepTable).select("prepare-source")
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackModal), what="confirm")
        await pilot.pause()
        listing = str(app.screen.query_one("#rollback-steps").render())
        assert listing.startswith("1. Seed the replicas (replicas)")
        assert "2. Prepare the source (prepare-source)" in listing
        assert "Connect and discover" not in listing, "only from the chosen step on"
        assert "Drop mw_repl@10.77.0.12 [db1]" in listing
        assert app.focused is not None and app.focused.id == "no"
        await pilot.press("n")
        await pilot.pause()
        assert not app.runner.busy
    assert path.read_text() == before


async def test_rollback_from_the_dashboard_runs_the_real_engine(
        make_app: MakeApp, state_dir: Path) -> None:
    """Discovery's rollback touches no host: the real engine journals it here."""
    path = save_migration(state_dir, statuses={"discover": "done"})
    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await dashboard(app, pilot, path)
        screen.query_one(StepTable).select("discover")
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackModal), what="confirm")
        assert "nothing on the hosts to undo" in str(
            app.screen.query_one("#rollback-steps").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.runner.busy and app.run_model.message,
                       what="the rollback")
        assert app.run_model.message == "rolled back: discover"
        await pilot.pause()
        assert "↺ rolled back" in screen_text(app)
    assert json.loads(path.read_text())["steps"]["discover"]["status"] == "rolled-back"


async def test_a_long_stream_keeps_the_ui_responsive(make_app: MakeApp, state_dir: Path) -> None:
    """20,000 output lines and 400 progress events as fast as the engine thread can emit
    them: the UI's loop is never held for long (the figure is printed for the report)."""
    path = save_migration(state_dir, statuses={"discover": "done", "prepare-source": "done"})
    lines, total = 20_000, 2**30

    async def flood(io: SessionIO) -> None:
        io.emit(ev.StepStarted("replicas", "Seed the replicas"))
        for i in range(lines):
            io.emit(ev.OutputLine("replicas", "db1", f"[01] Streaming ./moodle/mdl_log.ibd {i}"))
            if i % 50 == 0:
                io.emit(ev.Progress("replicas", "seed stream", i * total // lines, total))
                await asyncio.sleep(0)
        io.emit(ev.StepDone("replicas", 12.0))

    app = make_app(ask_resume=False, watch_loop=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await dashboard(app, pilot, path)
        assert app.loopwatch is not None
        app.loopwatch.reset()
        app.runner.start("run", flood)
        await wait_for(pilot, lambda: not app.runner.busy and app.run_model.rows[
            "replicas"].logged >= lines + 2, timeout=60, what="the flood to drain")
        await pilot.pause()
        stall = app.loopwatch.max_stall
        print(f"\nlargest UI event-loop stall during {lines} lines: {stall * 1000:.1f} ms "
              f"({app.loopwatch.samples} samples)")
        log = screen.query_one(StepLog)
        assert any(f"mdl_log.ibd {lines - 1}" in line for line in log.lines[-3:])
        assert any("lines not shown" in line for line in log.lines), "a flood is summarised"
        assert "seed stream" in screen_text(app)
        assert stall < 0.25, f"the UI loop was held {stall * 1000:.0f} ms"


async def test_quitting_mid_step_asks_and_stops_the_engine_cleanly(
        make_app: MakeApp, state_dir: Path) -> None:
    import threading

    path = save_migration(state_dir, statuses={"discover": "done"})
    wound_down = threading.Event()

    async def endless(io: SessionIO) -> None:
        io.emit(ev.StepStarted("prepare-source", "Prepare the source"))
        try:
            await asyncio.Event().wait()
        finally:
            wound_down.set()

    app = make_app(ask_resume=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await dashboard(app, pilot, path)
        app.runner.start("run", endless)
        await wait_for(pilot, lambda: app.run_model.active == "prepare-source", what="start")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        assert "remote jobs keep running" in str(app.screen.query_one("#confirm-message").render())
        await pilot.press("n")
        await pilot.pause()
        assert app.runner.busy and isinstance(app.screen, DashboardScreen)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("y")
    assert await asyncio.to_thread(wound_down.wait, 10), "the engine was cancelled on exit"
