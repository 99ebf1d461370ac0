"""Loading the engine behind the first screen.

The first screen (welcome) needs neither SSH nor MySQL: the app and it are painted without the
engine's modules (asyncssh, aiomysql/PyMySQL, the steps; about half the cold start), which the
screens and operations import where they use them. Once the first frame is out, a background
thread imports them, so that the operator's first key does not wait for them either. Imports
are thread-safe (a module another thread is loading is waited for, never loaded twice), and
the thread gives the UI loop the interpreter every few milliseconds, as any thread does."""

from __future__ import annotations

import importlib
import logging
import threading
import time

log = logging.getLogger(__name__)

# What the screens after the welcome screen and the operations load (and, through them, the
# engine): the flow's screens, the operations run in the engine thread, the previews.
MODULES = (
    "moodle_wizard.tui.screens.hosts",
    "moodle_wizard.tui.screens.discovery",
    "moodle_wizard.tui.screens.backup",
    "moodle_wizard.tui.screens.replicas",
    "moodle_wizard.tui.screens.proxysql",
    "moodle_wizard.tui.screens.vip",
    "moodle_wizard.tui.screens.review",
    "moodle_wizard.tui.screens.dashboard",
    "moodle_wizard.tui.screens.operate",
    "moodle_wizard.tui.screens.help",
    "moodle_wizard.tui.preview",
    "moodle_wizard.tui.ops",
    "moodle_wizard.tui.operate_ops",
)


def load_engine() -> float:
    """Import MODULES; the seconds it took. A module that fails to import is left for its
    first real use to report (with the operator's message), never raised here."""
    start = time.perf_counter()
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # its first real import raises it again, where it is handled
            log.debug("warming %s failed", name, exc_info=True)
    return time.perf_counter() - start


def start() -> threading.Thread:
    def run() -> None:
        log.info("engine modules loaded in the background in %.2f s", load_engine())

    thread = threading.Thread(target=run, name="mw-load-engine", daemon=True)
    thread.start()
    return thread
