"""Driving the real wizard from the lab's jump host, and reading the lab's state for tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moodle_wizard.lab.host import exec_argv
from tests.lab.conftest import Lab

LAB_INVENTORY = "/srv/mwlab/inventory.toml"
# The lab's inventory says source_restart = "ask", as an operator's would: `run --yes` then
# refuses to restart db1 (issue 10 item 5). A test that runs through prepare-source says
# "allow" in its own copy: wizard.inventory(name, **ALLOW_RESTART).
ALLOW_RESTART = {'source_restart = "ask"': 'source_restart = "allow"'}
# The classic order (the default, auto, runs the lab's db1 proxy-first: its binary log is off),
# for a test of what prepare-source itself does to the source, restart included.
CLASSIC = {"[migration]\n": '[migration]\norder = "classic"\n'}
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Wizard:
    """`moodle-wizard` on jump with a state directory of its own."""

    lab: Lab
    state_dir: str = field(default_factory=lambda: f"/root/mw-test-{secrets.token_hex(4)}")
    files: list[str] = field(default_factory=list)
    spawned: list[subprocess.Popen[str]] = field(default_factory=list)

    def __enter__(self) -> Wizard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_spawned()
        self.lab.exec("jump", "rm", "-rf", self.state_dir, *self.files)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """The wizard in the background; a test that fails half-way must not leave it running
        (it would hold the migration's lock, so nothing could roll the lab back)."""
        proc = subprocess.Popen(exec_argv(self.lab.pid("jump"), self.argv(*args)),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=_default_sighup)
        self.spawned.append(proc)
        return proc

    def stop_spawned(self) -> None:
        for proc in self.spawned:
            if proc.poll() is None:
                # nsenter forks the wizard into jump's namespaces: stop that child first.
                for child in wizard_children(proc.pid):
                    os.kill(child, signal.SIGKILL)
                proc.kill()
                proc.communicate(timeout=30)
        self.spawned.clear()

    def argv(self, *args: str, env: dict[str, str] | None = None) -> list[str]:
        extra = [f"{k}={v}" for k, v in (env or {}).items()]
        # The wizard under test is the code beside these tests, whichever checkout the lab's
        # `moodle-wizard` was installed from (a second worktree tests its own code).
        return ["env", f"MOODLE_WIZARD_STATE_DIR={self.state_dir}", f"PYTHONPATH={ROOT}",
                *extra, "moodle-wizard", *args]

    def __call__(self, *args: str, env: dict[str, str] | None = None,
                 input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return self.lab.exec("jump", *self.argv(*args, env=env), input=input, check=False)

    def state(self, migration: str = "mwlab") -> dict[str, Any]:
        out = self.lab.exec("jump", "cat", f"{self.state_dir}/{migration}.json").stdout
        data: dict[str, Any] = json.loads(out)
        return data

    def inventory(self, name: str, **changes: str) -> str:
        """A copy of the lab's inventory on the lab's shared dir, with lines replaced."""
        text = self.lab.exec("jump", "cat", LAB_INVENTORY).stdout
        for old, new in changes.items():
            assert old.replace("_", " ") in text or old in text, old
            text = text.replace(old, new)
        path = f"/srv/mwlab/test-{name}-{secrets.token_hex(3)}.toml"
        self.files.append(path)
        self.lab.exec("jump", "sh", "-c", f"cat > {path}", input=text.encode())
        return path


def _default_sighup() -> None:
    # As an operator's login shell leaves it: a test run under nohup would otherwise pass its
    # ignored SIGHUP down to the wizard, and a dropped session would change nothing.
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def wizard_children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def sql(lab: Lab, host: str, query: str) -> list[list[str]]:
    out = lab.exec(host, "mariadb", "-N", "-B", "-e", query).stdout
    return [line.split("\t") for line in out.splitlines()]


def moodle_checksums(lab: Lab, host: str) -> dict[str, str]:
    tables = [r[0] for r in sql(lab, host, "SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema='moodle' ORDER BY 1")]
    rows = sql(lab, host, "CHECKSUM TABLE " + ", ".join(f"moodle.{t}" for t in tables))
    return {r[0]: r[1] for r in rows}


def source_snapshot(lab: Lab) -> dict[str, Any]:
    """Everything about db1 that a migration plus rollback must leave as it was."""
    return {
        "users": sorted(map(tuple, sql(lab, "db1", "SELECT user, host FROM mysql.user"))),
        "databases": sql(lab, "db1", "SHOW DATABASES"),
        "vars": sql(lab, "db1", "SELECT @@log_bin, @@server_id, @@binlog_format, @@read_only"),
        "cnf": lab.exec("db1", "sh", "-c", "cd /etc/mysql && find . -type f | sort | "
                        "xargs md5sum").stdout,
        "binlogs": lab.exec("db1", "sh", "-c", "ls /var/log/mysql 2>/dev/null || true").stdout,
        "checksums": moodle_checksums(lab, "db1"),
    }


def replica_snapshot(lab: Lab, host: str) -> dict[str, Any]:
    return {
        "datadir": lab.exec(host, "ls", "-A", "/var/lib/mysql").stdout,
        "server": lab.exec(host, "sh", "-c", "pidof mariadbd || true").stdout.strip(),
        "cnf": lab.exec(host, "sh", "-c", "cd /etc/mysql && find . -type f | sort | "
                        "xargs md5sum").stdout,
        "keys": lab.exec(host, "cat", "/root/.ssh/authorized_keys").stdout,
        "binlogs": lab.exec(host, "sh", "-c", "ls /var/log/mysql 2>/dev/null || true").stdout,
    }


def lab_snapshot(lab: Lab) -> dict[str, Any]:
    return {"db1": source_snapshot(lab),
            **{h: replica_snapshot(lab, h) for h in ("db2", "db3")}}


def replica_status(lab: Lab, host: str) -> dict[str, str]:
    out = lab.exec(host, "mariadb", "-e", "SHOW SLAVE STATUS\\G").stdout
    status = {}
    for line in out.splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep:
            status[key] = value
    return status
