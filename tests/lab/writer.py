"""A Moodle-like writer on app for the lab tests: tests/lab/files/mw-writer.php re-reads
config.php and writes one row through it every 20 ms, connecting per request as Moodle does;
at the end it says which writes succeeded and which failed (and why)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

from tests.lab.conftest import Lab
from tests.lab.shapes import wait_for

SCRIPT = (Path(__file__).parent / "files" / "mw-writer.php").read_bytes()
CONFIG = "/var/www/moodle/config.php"
COUNT = ("SELECT COUNT(*) FROM moodle.mdl_mwlab_probe WHERE apphost = 'mw-writer'")


class MoodleWriter:
    """`with MoodleWriter(lab) as w: ...; writes = w.stop()`; its rows are removed on exit
    (from `cleanup_on`, the primary then)."""

    def __init__(self, lab: Lab, cleanup_on: str = "db1") -> None:
        self.lab = lab
        self.cleanup_on = cleanup_on
        self.writes: dict[str, Any] | None = None

    def __enter__(self) -> MoodleWriter:
        lab = self.lab
        lab.exec("app", "sh", "-c", "cat > /run/mw-writer.php", input=SCRIPT)
        lab.exec("app", "sh", "-c", "rm -f /run/mw-writer.stop; setsid php /run/mw-writer.php "
                 f"{CONFIG} /run/mw-writer.stop </dev/null >/run/mw-writer.out 2>&1 & "
                 "echo $! > /run/mw-writer.pid")
        self.started = time.time()
        return self

    def stop(self) -> dict[str, Any]:
        lab = self.lab
        lab.exec("app", "touch", "/run/mw-writer.stop")
        pid = lab.exec("app", "cat", "/run/mw-writer.pid").stdout.strip()
        wait_for("the writer to stop", lambda: lab.exec(
            "app", "sh", "-c", f"ps -o stat= -p {pid} | grep -qv Z", check=False
        ).returncode != 0, timeout=30)
        self.writes = json.loads(lab.exec("app", "cat", "/run/mw-writer.out").stdout or "{}")
        return self.writes

    def rows(self, host: str) -> int:
        out = self.lab.exec(host, "mariadb", "-N", "-e", COUNT).stdout.strip()
        return int(out or 0)

    def __exit__(self, *exc: object) -> None:
        if self.writes is None:
            self.lab.exec("app", "touch", "/run/mw-writer.stop", check=False)
        self.lab.exec("app", "rm", "-f", "/run/mw-writer.php", "/run/mw-writer.stop",
                      "/run/mw-writer.out", "/run/mw-writer.pid", check=False)
        self.lab.exec(self.cleanup_on, "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe "
                      "WHERE apphost = 'mw-writer'", check=False)


def longest_pause(ok: list[float]) -> float:
    return max((b - a for a, b in itertools.pairwise(ok)), default=0.0)
