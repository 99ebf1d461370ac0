"""The crash tests' failpoint kills only at the named boundary, and only when asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from moodle_wizard.core import failpoint

SCRIPT = ("from moodle_wizard.core.failpoint import crash_point\n"
          "crash_point('replicas/stream')\nprint('passed replicas/stream')\n")


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != failpoint.ENV}
    return subprocess.run([sys.executable, "-c", SCRIPT], env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_unset_it_does_nothing() -> None:
    out = run({})
    assert out.returncode == 0 and "passed" in out.stdout


def test_another_point_does_nothing() -> None:
    assert run({failpoint.ENV: "replicas/prepare:db2"}).returncode == 0


def test_at_the_named_point_the_process_dies_by_sigkill() -> None:
    out = run({failpoint.ENV: "replicas/stream"})
    assert out.returncode == -signal.SIGKILL and "passed" not in out.stdout
