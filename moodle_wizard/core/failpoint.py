"""Fault injection for the crash tests.

MOODLE_WIZARD_CRASH_AFTER=STEP/ACTION makes the wizard SIGKILL itself the moment that action is
journaled done: the same as an operator's `kill -9` at that instant, but at an exact action
boundary. Killing from outside when the state file shows the action races the wizard, and a
step's rollback actions leave the journal once the step is rolled back, so an outside observer
cannot even see them all. Unset (always, in real use), this does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "MOODLE_WIZARD_CRASH_AFTER"


def crash_point(point: str) -> None:
    if os.environ.get(ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
