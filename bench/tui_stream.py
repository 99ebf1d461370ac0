"""Figures 7 and 8: the wizard's TUI driven through the whole migration of the lab (as the
operator would, every question answered yes), measuring the UI event loop's largest stall
while the seed stream runs, and the process's peak RSS. Run in a process of its own (its peak
RSS is then the wizard's): `python -m bench.tui_stream`; prints one line of JSON."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.writes import during
from moodle_wizard.lab import lab
from moodle_wizard.tui.app import WizardApp
from moodle_wizard.tui.screens.confirm import ConfirmModal
from tests.lab.tui_drive import start_migration, wait_for


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def streaming(app: WizardApp) -> bool:
    """The seed stream runs: the replicas step's last line is the stream action's title or
    its progress. Read from the app's own model, never from the state file: reading a file
    the engine keeps rewriting can wait on the disk (its atime) in the UI thread, under the
    stream's heavy writes, and would be counted as the wizard's stall."""
    row = app.run_model.rows.get("replicas")
    return row is not None and row.last.startswith(("Stream ", "seed stream"))


async def drive(home: Path, state_dir: Path, debug: bool = False,
                record: bool = False) -> dict[str, Any]:
    if debug:
        asyncio.get_running_loop().slow_callback_duration = 0.02
    record = record or debug
    shutil.copy(lab.LABDIR / "ssh" / "known_hosts", home / ".ssh" / "known_hosts")
    state_file = state_dir / "mwlab.json"
    app = WizardApp(known_hosts=home / ".ssh" / "known_hosts", ask_resume=False, guide=True,
                    watch_loop=True)
    result: dict[str, Any] = {"rss_before_kb": status_kb("VmRSS")}
    async with app.run_test(size=(120, 40)) as pilot:
        await start_migration(app, pilot)
        assert app.loopwatch is not None
        app.loopwatch.reset()
        t0 = time.monotonic()
        stalls: list[tuple[float, float, float, float, float]] = []
        gcs: list[tuple[float, int, float]] = []
        rss: list[tuple[float, int]] = []
        if record:
            asyncio.get_running_loop().create_task(_record_stalls(stalls))
            asyncio.get_running_loop().create_task(_record_rss(rss))
            _record_gc(gcs)
        await wait_for(pilot, lambda: streaming(app), timeout=1800,
                       what="the seed stream", answer={ConfirmModal: "y"})
        before_stream = app.loopwatch.max_stall
        app.loopwatch.reset()
        s0 = time.monotonic()
        await wait_for(pilot, lambda: not streaming(app), timeout=3600,
                       what="the end of the seed stream", answer={ConfirmModal: "y"})
        result["stream_s"] = round(time.monotonic() - s0, 2)
        result["stall_during_stream_ms"] = round(app.loopwatch.max_stall * 1000, 1)
        result["stream_samples"] = app.loopwatch.samples
        stream_stall = app.loopwatch.max_stall
        app.loopwatch.reset()
        await wait_for(pilot, lambda: not app.runner.busy and app.run_model.message,
                       timeout=3600, what="the migration", answer={ConfirmModal: "y"})
        result["migration_s"] = round(time.monotonic() - t0, 2)
        result["stall_whole_migration_ms"] = round(
            max(before_stream, stream_stall, app.loopwatch.max_stall) * 1000, 1)
        result["all_done"] = app.all_done()
        result["errors"] = {k: str(v) for k, v in app.errors.items()}
        if record:
            result["stalls"] = [(round(at, 3), round(late * 1000, 1), round(cpu * 1000, 1),
                                 round(all_cpu * 1000, 1), round(queued * 1000, 1),
                                 during(json.loads(state_file.read_text()), at - late, at))
                                for at, late, cpu, all_cpu, queued in stalls]
            import collections
            import gc
            kinds = collections.Counter(type(o).__name__ for o in gc.get_objects())
            result["objects"] = [len(gc.get_objects()), kinds.most_common(25)]
            state = json.loads(state_file.read_text())
            # Where the resident size grew by 1 MB or more in a second, and during what.
            result["rss_growth"] = [
                (round(at, 1), kb // 1024, (kb - before) // 1024, during(state, at - 1, at))
                for (_, before), (at, kb) in itertools.pairwise(rss)
                if kb - before >= 1024]
            result["gc"] = [(round(at, 3), gen, round(took * 1000, 1))
                            for at, gen, took in gcs if took > 0.02]
    result["peak_rss_mb"] = round(status_kb("VmHWM") / 1024, 1)
    return result


def _record_gc(gcs: list[tuple[float, int, float]]) -> None:
    import gc
    started: dict[str, float] = {}

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
        else:
            gcs.append((time.time(), info["generation"], time.perf_counter() - started["t"]))
    gc.callbacks.append(callback)


async def _record_rss(rss: list[tuple[float, int]]) -> None:
    while True:
        rss.append((time.time(), status_kb("VmRSS")))
        await asyncio.sleep(1)


def _runqueue_wait_s() -> float:
    """How long the UI thread has waited on a run queue (ready, no core free) so far."""
    return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9


async def _record_stalls(stalls: list[tuple[float, float, float, float, float]]) -> None:
    """Every lateness of the UI loop over 30 ms, with the UI thread's and the whole process's
    CPU time in it and the UI thread's wait for a core: a stall the UI thread neither spent
    nor waited for a core in, it was blocked (the GIL, a file)."""
    while True:
        before, cpu, all_cpu = time.perf_counter(), time.thread_time(), time.process_time()
        queued = _runqueue_wait_s()
        await asyncio.sleep(0.01)
        late = time.perf_counter() - before - 0.01
        if late > 0.03:
            stalls.append((time.time(), late, time.thread_time() - cpu,
                           time.process_time() - all_cpu, _runqueue_wait_s() - queued))


def main() -> int:
    # MW_BENCH_UI_NICE=-10: the wizard's process at that priority, as on a jump host, whose
    # cores are the wizard's own; in the lab the database servers and the stream's ssh
    # processes share the machine's cores with it.
    ui_nice = int(os.environ.get("MW_BENCH_UI_NICE", "0"))
    if ui_nice:
        os.nice(ui_nice)
        # With the kernel's autogroups (sched_autogroup_enabled), a process's nice counts only
        # against its own session; the lab's servers run in sessions of their own.
        autogroup = Path("/proc/self/autogroup")
        if autogroup.exists():
            autogroup.write_text(str(ui_nice))
    with tempfile.TemporaryDirectory(prefix="mw-bench-tui-") as tmp:
        home = Path(tmp) / "home"
        (home / ".ssh").mkdir(parents=True, mode=0o700)
        shutil.copy(lab.LABDIR / "ssh" / "id_ed25519", home / ".ssh" / "id_ed25519")
        (home / ".ssh" / "id_ed25519").chmod(0o600)
        state_dir = Path(tmp) / "state"
        os.environ["HOME"] = str(home)
        os.environ["MOODLE_WIZARD_STATE_DIR"] = str(state_dir)
        # MW_BENCH_ASYNCIO_DEBUG=1: asyncio names every UI-loop callback slower than 20 ms (on
        # stderr): what to look at when the stall misses its target. It slows everything.
        debug = os.environ.get("MW_BENCH_ASYNCIO_DEBUG") == "1"
        # MW_BENCH_STALLS=1: the same list of stalls and collections, without asyncio's debug
        # mode (which slows everything), each stall with the UI thread's own CPU time.
        record = os.environ.get("MW_BENCH_STALLS") == "1"
        if debug:
            logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        profile = os.environ.get("MW_BENCH_PROFILE")  # a path: cProfile of the UI thread
        try:
            if profile:
                import cProfile
                profiler = cProfile.Profile()
                result = profiler.runcall(asyncio.run, drive(home, state_dir, debug, record))
                profiler.dump_stats(profile)
            else:
                result = asyncio.run(drive(home, state_dir, debug, record), debug=debug)
        finally:
            # Put the lab back: the same engine, headless, on the state the TUI saved.
            if (state_dir / "mwlab.json").exists():
                from moodle_wizard.cli import main as cli_main
                rc = cli_main(["rollback", "--yes"])
                if rc:
                    print(f"rollback after the TUI run failed ({rc})", file=sys.stderr)
    result["ui_nice"] = ui_nice
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
