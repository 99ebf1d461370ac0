"""Small wrappers around the machine's own tools, for the lab."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence

from moodle_wizard.core.errors import OperatorError


class LabError(OperatorError):
    """One clear line for the operator: what is wrong and how to fix it."""


def run(
    argv: Sequence[str], *, check: bool = True, input: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(
        list(argv), input=input, capture_output=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip() or proc.stdout.decode(
            errors="replace"
        ).strip()
        raise LabError(f"{' '.join(argv[:6])} failed (exit {proc.returncode}): {err[-800:]}")
    return proc


def process_alive(pid: int) -> bool:
    """True while pid runs. A zombie is gone: the machine's PID 1 reaps orphans late."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def wait_until(predicate: object, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll predicate() until true or raise LabError naming what did not happen."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def stop_pid(pid: int, grace: float = 15.0) -> None:
    """SIGTERM, wait for it to be gone, SIGKILL if it would not go."""
    if not process_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        wait_until(lambda: not process_alive(pid), grace, f"pid {pid} to exit")
    except LabError:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_until(lambda: not process_alive(pid), 5, f"pid {pid} to die after SIGKILL")


def pids_in_netns(netns_inode: int) -> list[int]:
    """Every live process whose network namespace is the given one."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == netns_inode:
                pid = int(entry)
                if process_alive(pid):
                    found.append(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (it creates network namespaces, a bridge and mounts); "
            "run it as root, e.g. with sudo"
        )
