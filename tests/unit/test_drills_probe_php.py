"""The drills' real probe.php (as shipped, with the wizard's prelude) against a throwaway
MariaDB: it writes, a read-only server's refusal is a failed write with its error, it stops
on its stop file, and its lines are what drill_probe parses."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from moodle_wizard.core.operate.drill_probe import ProbeLog, probe_script
from tests.unit.conftest_proxysql_standin import MariaDB, wait_for

pytestmark = pytest.mark.skipif(shutil.which("php") is None or shutil.which("mariadbd") is None,
                                reason="needs php (with mysqli) and mariadbd")

PASSWORD = "it's a \"quoted\" pass\\word"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    db = MariaDB(tmp_path_factory.mktemp("drill-probe")).start()
    try:
        escaped = PASSWORD.replace("\\", "\\\\").replace("'", "\\'")
        db.sql("CREATE DATABASE moodle",
               "CREATE TABLE moodle.mdl_mwlab_probe (id BIGINT NOT NULL AUTO_INCREMENT, "
               "token VARCHAR(32) NOT NULL, apphost VARCHAR(100) NOT NULL DEFAULT '', "
               "timecreated BIGINT NOT NULL, PRIMARY KEY (id), UNIQUE KEY (token))",
               f"CREATE USER 'moodle'@'127.0.0.1' IDENTIFIED BY '{escaped}'",
               "GRANT ALL ON moodle.* TO 'moodle'@'127.0.0.1'")
        yield db
    finally:
        db.stop()


def test_the_probe_writes_counts_read_only_refusals_and_stops(server: MariaDB,
                                                              tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    conf = {"host": "127.0.0.1", "port": server.port, "user": "moodle", "password": PASSWORD,
            "database": "moodle", "interval": 0.02, "connect_timeout": 2, "max_s": 60,
            "stop": str(stop),
            "statement": "INSERT INTO mdl_mwlab_probe (token, apphost, timecreated) "
                         "VALUES ('{token}', 'mw-drill', UNIX_TIMESTAMP())"}
    script = probe_script(conf)
    assert PASSWORD not in script  # only base64 of it
    out = tmp_path / "out"
    with out.open("w") as sink:
        proc = subprocess.Popen(["php"], stdin=subprocess.PIPE, stdout=sink,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdin is not None
        proc.stdin.write(script)
        proc.stdin.close()
        try:
            def lines() -> ProbeLog:
                log = ProbeLog()
                for line in out.read_text().splitlines():
                    log.add(line)
                return log

            wait_for("three writes", lambda: len(lines().ok) >= 3)
            server.sql("SET GLOBAL read_only = 1")
            try:
                wait_for("a refused write", lambda: lines().failed)
            finally:
                server.sql("SET GLOBAL read_only = 0")
            refused_at = time.time()
            wait_for("a write after read_only = 0",
                     lambda: lines().first_ok_after(refused_at))
            stop.touch()
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    log = lines()
    assert log.ended and log.other == []
    assert "1290" in log.failed[0].error and "read-only" in log.failed[0].error
    assert all(len(a.token) == 16 for a in log.ok)
    rows = server.sql("SELECT token FROM moodle.mdl_mwlab_probe")
    assert {a.token for a in log.ok} == {str(r[0]) for r in rows}
    starts = [a.start for a in log.attempts]
    assert starts == sorted(starts) and all(a.end >= a.start for a in log.attempts)


def test_a_probe_that_cannot_connect_says_why(tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    conf = {"host": "127.0.0.1", "port": 1, "user": "moodle", "password": "x",
            "database": "moodle", "interval": 0.02, "connect_timeout": 1, "max_s": 0.2,
            "stop": str(stop), "statement": "DELETE FROM mdl_config WHERE 1 = 0"}
    proc = subprocess.run(["php"], input=probe_script(conf), capture_output=True, text=True,
                          timeout=30)
    log = ProbeLog()
    for line in proc.stdout.splitlines():
        log.add(line)
    assert log.ended and not log.ok and log.failed  # max_s ended it
    assert log.failed[0].error.startswith("2002 connect: ")
