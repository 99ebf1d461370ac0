"""Running as a service: pid file, daemon mode, logging, signals."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from moodle_wizard.lab.proxysql_standin import LOG_NAME
from moodle_wizard.lab.proxysql_standin.app import Settings, StandIn
from moodle_wizard.lab.proxysql_standin.watchdog import run_angel

log = logging.getLogger(__name__)

_PR_SET_NAME = 15


class AlreadyRunning(Exception):
    pass


def process_alive(pid: int) -> bool:
    """True if ``pid`` runs; a zombie (state Z, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state follows the parenthesised command name, which may contain spaces.
    return stat.rpartition(")")[2].split()[0] != "Z"


class PidFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def claim(self) -> None:
        """Write our pid; refuse if the file names another live process."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            other = int(self.path.read_text().split()[0])
            if other != os.getpid() and process_alive(other):
                raise AlreadyRunning(f"already running with pid {other} ({self.path})")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(f"{os.getpid()}\n")
        temporary.replace(self.path)

    def release(self) -> None:
        """Remove the file if it still names us (a successor may have claimed it)."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            if int(self.path.read_text().split()[0]) == os.getpid():
                self.path.unlink()


def name_process(name: str = "proxysql") -> None:
    """Set the process name (``comm``) that ``pidof``/``killall -0`` match.

    Health checks written for the real binary (a keepalived ``track_script``
    such as ``killall -0 proxysql``) then see the stand-in the same way; the
    command line still reads ``python -m moodle_wizard.lab.proxysql_standin``.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()), 0, 0, 0)


def setup_logging(logfile: Path | None, level: str) -> None:
    handler: logging.Handler
    if logfile is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        logfile.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(logfile)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # mysql-mimic logs every admin error and connection at INFO/ERROR; ours say it better.
    logging.getLogger("mysql_mimic").setLevel(logging.CRITICAL)


async def serve(settings: Settings, pidfile: PidFile | None,
                ready: Callable[[str], None]) -> None:
    """Start, report readiness, run until SIGTERM/SIGINT, stop cleanly. ``pidfile``: None
    in a daemon's child (its angel holds the pid file, as ProxySQL's does)."""
    if pidfile is not None:
        pidfile.claim()
    try:
        standin = StandIn(settings)
        await standin.start()
    except BaseException:
        if pidfile is not None:
            pidfile.release()
        raise
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    log.info("%s: ready (pid %d)", LOG_NAME, os.getpid())
    ready("ok")
    try:
        await stopping.wait()
        log.info("%s: signal received, shutting down", LOG_NAME)
    finally:
        await standin.stop()
        if pidfile is not None:
            pidfile.release()
        log.info("%s: stopped", LOG_NAME)


def run_foreground(settings: Settings, pidfile: PidFile) -> int:
    asyncio.run(serve(settings, pidfile, lambda _: None))
    return 0


def run_daemon(settings: Settings, pidfile: PidFile) -> int:
    """Detach (double fork) into ProxySQL's two processes (watchdog.run_angel): the angel
    holds the pid file and forks the child that serves. Return only once the child
    listens, or failed to.

    The caller waits on a pipe for the child's "ok" (or its error text), so an init
    script's ``start`` reports a failed start instead of a false success.
    """
    read_end, write_end = os.pipe()
    child = os.fork()
    if child > 0:
        os.close(write_end)
        os.waitpid(child, 0)
        with os.fdopen(read_end, "rb") as status:
            message = status.read().decode(errors="replace").strip()
        if message == "ok":
            return 0
        print(f"{LOG_NAME}: failed to start: {message or 'daemon exited'}", file=sys.stderr)
        return 1
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    _detach_stdio()
    reporter = os.fdopen(write_end, "w")

    def report(message: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            reporter.write(message)
            reporter.close()

    def close_report() -> None:
        with contextlib.suppress(OSError):
            reporter.close()

    code = 1
    try:
        pidfile.claim()
    except BaseException as error:
        report(f"{type(error).__name__}: {error}")
        os._exit(1)
    try:
        code = run_angel(settings, lambda s, ready: serve(s, None, ready), report,
                         close_report)
    except BaseException:
        log.exception("%s: angel process failed", LOG_NAME)
    finally:
        pidfile.release()
    os._exit(code)


def _detach_stdio() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
