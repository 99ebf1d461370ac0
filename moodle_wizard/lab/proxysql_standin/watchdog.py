"""The daemon's two processes, as ProxySQL 2.7 runs them (src/main.cpp).

A daemonised ProxySQL is an "angel" parent that writes the pid file and forks the
child that serves (ProxySQL_daemonize_phase2, handleProcessRestart). The angel waits
for the child (ProxySQL_daemonize_phase3): a child that exits 0 ends the angel too
("Shutdown angel process"); one that exits non-zero or dies of a signal is started
again ("ProxySQL crashed. Restarting!"), after a back-off of 2^n s when it lived less
than 10 s, giving up after 5 such attempts. SIGTERM runs ProxySQL's term_handler in
both processes, which only sets a shutdown flag: the angel goes on waiting, so a
SIGTERM to the pid file's process alone stops nothing, and its init script signals
every proxysql process of the host. The stand-in does the same, so that nothing in
the wizard or the lab can depend on a one-process ProxySQL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

from moodle_wizard.lab.proxysql_standin import LOG_NAME
from moodle_wizard.lab.proxysql_standin.app import Settings

log = logging.getLogger(__name__)

#: src/main.cpp handleProcessRestart: MAX_RESTART_ATTEMPTS, EXECUTION_THRESHOLD.
MAX_RESTART_ATTEMPTS = 5
EXECUTION_THRESHOLD_S = 10.0

#: The child's exit codes: it stopped on SIGTERM, failed after it served, never served.
EXIT_STOPPED, EXIT_FATAL, EXIT_NOT_STARTED = 0, 1, 2

Reporter = Callable[[str], None]
#: What the child runs until SIGTERM: process.serve without a pid file (the angel's).
Serve = Callable[[Settings, Reporter], Coroutine[Any, Any, None]]


def run_child(settings: Settings, serve: Serve,
              report: Reporter | None) -> int:
    """The serving process: its exit code tells the angel what happened."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    started = False

    def ready(message: str) -> None:
        nonlocal started
        started = True
        if report is not None:
            report(message)

    try:
        asyncio.run(serve(settings, ready))
    except BaseException as error:
        log.exception("%s: fatal", LOG_NAME)
        if not started:
            if report is not None:
                report(f"{type(error).__name__}: {error}")
            return EXIT_NOT_STARTED
        return EXIT_FATAL
    return EXIT_STOPPED


def _noted(signum: int, frame: FrameType | None) -> None:
    # ProxySQL's term_handler in the angel: a flag nobody reads there; keep waiting.
    log.warning("%s: angel process %d received TERM; it waits for its ProxySQL process",
                LOG_NAME, os.getpid())


def run_angel(
    settings: Settings,
    serve: Serve,
    report: Reporter,
    close_report: Callable[[], None],
) -> int:
    """Fork the serving child and watch it; return the angel's exit code.

    ``report`` goes to the first child only (``start`` returns once it listens);
    the angel closes its own copy at once, so a child that dies unreported ends the
    wait of ``start`` too. A first child that never served ends the angel (the start
    failed: nothing is left running); later ones are restarted as ProxySQL does.
    """
    signal.signal(signal.SIGTERM, _noted)
    laststart = 0.0
    attempts = 0
    first = True
    while True:
        if laststart:
            if time.monotonic() - laststart < EXECUTION_THRESHOLD_S:
                attempts += 1
                if attempts > MAX_RESTART_ATTEMPTS:
                    log.error("%s: angel process already attempted to restart ProxySQL %d "
                              "times and has no retries left", LOG_NAME, MAX_RESTART_ATTEMPTS)
                    return 1
                wait = 1 << attempts
                log.info("%s: angel process is waiting %d seconds before starting a new "
                         "ProxySQL process", LOG_NAME, wait)
                time.sleep(wait)  # ProxySQL's own back-off between restarts
            else:
                attempts = 0
        laststart = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os._exit(run_child(settings, serve, report if first else None))
        if first:
            close_report()
        log.info("%s: angel process started ProxySQL process %d", LOG_NAME, pid)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
            if code == EXIT_STOPPED:
                log.info("%s: shutdown angel process", LOG_NAME)
                return 0
            if first and code == EXIT_NOT_STARTED:
                return 1
            log.error("%s: ProxySQL exited with code %d . Restarting!", LOG_NAME, code)
        else:
            log.error("%s: ProxySQL crashed (signal %d). Restarting!", LOG_NAME,
                      os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1)
        first = False
