"""The lab tests start the lab themselves (real namespaces, sshd, MariaDB, PHP) and remove it."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from moodle_wizard.lab import lab
from moodle_wizard.lab.host import host_pid
from moodle_wizard.lab.topology import Topology

pytestmark = pytest.mark.lab


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="lab tests need root (network namespaces, mounts)")
        for item in items:
            if "tests/lab" in str(item.fspath):
                item.add_marker(skip)


@dataclass
class Lab:
    topo: Topology
    state: lab.LabState

    def pid(self, host: str) -> int:
        pid = host_pid(lab.LABDIR, host)
        assert pid is not None, f"lab host {host} is not running"
        return pid

    def exec(self, host: str, *argv: str, input: bytes | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        from moodle_wizard.lab.host import exec_argv

        proc = subprocess.run(exec_argv(self.pid(host), argv), input=input,
                              capture_output=True, timeout=120)
        out = subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} on {host} failed ({proc.returncode}): {out.stderr}")
        return out


def proxysql_bin() -> str | None:
    """MW_PROXYSQL_BIN: a real proxysql binary for px1/px2 (`MW_PROXYSQL_BIN=PATH make
    lab-tests`); without it, the lab's own choice (the stand-in, or the one it runs)."""
    return os.environ.get("MW_PROXYSQL_BIN") or None


@pytest.fixture(scope="session")
def running_lab() -> Iterator[Lab]:
    """One lab for the session: brought up (or repaired) here, and removed at the end only if
    this session started it — a lab someone was already using stays up."""
    was_up = lab.LabState.load(lab.LABDIR) is not None
    state = lab.up(None, 50, proxysql_bin(), out=io.StringIO())
    yield Lab(Topology.from_cidr(state.subnet), state)
    if not was_up:
        lab.down(out=io.StringIO())
        assert lab.verify_gone() == []
