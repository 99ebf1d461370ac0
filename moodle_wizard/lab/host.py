"""Start a lab host (its PID 1) and run commands inside it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from moodle_wizard.lab.system import LabError, process_alive, run, wait_until
from moodle_wizard.lab.topology import netns_name

HOSTINIT = Path(__file__).with_name("hostinit.py")
HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "USER": "root",
    "LOGNAME": "root",
}


def pidfile(labdir: Path, host: str) -> Path:
    return labdir / "run" / f"{host}.pid"


def read_pid(labdir: Path, host: str) -> int | None:
    try:
        return int(pidfile(labdir, host).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def host_pid(labdir: Path, host: str) -> int | None:
    pid = read_pid(labdir, host)
    return pid if pid is not None and process_alive(pid) else None


def start_host(labdir: Path, host: str, private_usr: bool = False) -> int:
    """Start the host's PID 1 detached from us; return its pid on the machine. private_usr:
    the host gets its own /usr (an overlay), for changing its packages."""
    (labdir / "run").mkdir(parents=True, exist_ok=True)
    (labdir / "log").mkdir(parents=True, exist_ok=True)
    pidfile(labdir, host).unlink(missing_ok=True)
    log = open(labdir / "log" / f"{host}.init.log", "ab")  # noqa: SIM115 - handed to the child
    with log:
        launcher = subprocess.Popen(
            ["ip", "netns", "exec", netns_name(host), "unshare", "--mount", "--uts", "--pid",
             "--fork", sys.executable, "-I", str(HOSTINIT), host, str(labdir),
             *(["private-usr"] if private_usr else [])],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env=HOST_ENV,
        )

    def started() -> bool:
        if launcher.poll() is not None:
            raise LabError(
                f"host {host} did not start (exit {launcher.returncode}); "
                f"see {labdir / 'log' / (host + '.init.log')}"
            )
        return read_pid(labdir, host) is not None

    wait_until(started, 20, f"host {host} to start")
    pid = read_pid(labdir, host)
    assert pid is not None
    return pid


def exec_argv(pid: int, argv: Sequence[str]) -> list[str]:
    return ["nsenter", "--target", str(pid), "--mount", "--uts", "--pid", "--net",
            "--wd=/root", "--", "env", "-i", *(f"{k}={v}" for k, v in HOST_ENV.items()),
            *argv]


def host_run(
    pid: int, argv: Sequence[str], *, input: bytes | None = None, check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[bytes]:
    return run(exec_argv(pid, argv), input=input, check=check, timeout=timeout)


def host_sh(pid: int, script: str, *, check: bool = True, timeout: float = 300,
            ) -> subprocess.CompletedProcess[bytes]:
    """Run a shell script inside the host, given on stdin so nothing shows up in `ps`."""
    return host_run(pid, ["sh", "-eu"], input=script.encode(), check=check, timeout=timeout)


def interactive(pid: int, argv: Sequence[str]) -> int:
    """Run argv inside the host attached to our terminal (lab shell, lab exec)."""
    env_term = {"TERM": os.environ.get("TERM", "xterm-256color")}
    full = exec_argv(pid, argv)
    idx = full.index("env") + 2
    full[idx:idx] = [f"{k}={v}" for k, v in env_term.items()]
    return subprocess.call(full)
