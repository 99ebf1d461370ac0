"""Debian packages on a host: which of a list are missing, and installing just those.

One command for every step that installs (the replicas' server, keepalived, ProxySQL), so the
runbook line and what runs are the same text. What was missing is handed to `record` before
apt-get runs: a crash or a failure half-way may leave some of them installed, and rollback
removes exactly what the wizard installed, never a package the operator had.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

from moodle_wizard.core.command import Shell
from moodle_wizard.core.remote.ssh import RemoteHost

__all__ = ["install_command", "install_packages", "install_script", "install_shell",
           "missing_packages"]

INSTALL_TIMEOUT_S = 1800


def install_command(packages: Sequence[str]) -> str:
    """The apt-get line, as it runs and as the runbook shows it."""
    return ("apt-get install -y --no-install-recommends "
            + " ".join(shlex.quote(p) for p in packages))


def install_shell(host: str, packages: Sequence[str]) -> Shell:
    """install_packages' apt-get on `host` as a command, for a runbook: it runs for the ones
    missing only (the runbook lists them all)."""
    return Shell.sh(host, install_script(packages), timeout=INSTALL_TIMEOUT_S,
                    note="only the ones missing")


def install_script(packages: Sequence[str]) -> str:
    """The `sh -c` script install_packages runs (the runbook renders it as a Shell)."""
    return f"DEBIAN_FRONTEND=noninteractive {install_command(packages)} </dev/null"


async def missing_packages(host: RemoteHost, packages: Sequence[str]) -> list[str]:
    """The packages of `packages` that dpkg does not list as installed, in their order."""
    out = await host.run(["sh", "-c", "dpkg-query -W -f '${Package} ${Status}\\n' "
                          + " ".join(shlex.quote(p) for p in packages) + " 2>/dev/null || true"])
    present = {line.split()[0] for line in out.stdout.splitlines()
               if line.endswith("ok installed")}
    return [p for p in packages if p not in present]


async def install_packages(host: RemoteHost, packages: Sequence[str], *,
                           record: Callable[[list[str]], None] | None = None) -> list[str]:
    """Install what is missing of `packages`; returns it (empty: nothing was missing).
    `record` sees the list before apt-get runs."""
    missing = await missing_packages(host, packages)
    if not missing:
        return []
    if record is not None:
        record(missing)
    await host.run(["sh", "-c", install_script(missing)], timeout=INSTALL_TIMEOUT_S)
    return missing
