"""Debian packages on a host: which of a list are missing, and installing just those; what
dpkg lists installed before and after, and removing exactly what it added.

One command for every step that installs (the replicas' server, keepalived, ProxySQL), so the
runbook line and what runs are the same text. What was missing is handed to `record` before
apt-get runs: a crash or a failure half-way may leave some of them installed, and rollback
removes exactly what the wizard installed, never a package the operator had. apt-get also
installs what they depend on (mariadb-server-core, mariadb-client-core, ...): a step that
removes those too compares dpkg's whole list before and after (`dpkg_snapshot`) and removes
the difference with dpkg itself (`removal_shell`), which removes nothing else: apt-get remove
would also take away any other package that depends on one of them.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from moodle_wizard.core.command import Shell
from moodle_wizard.core.remote.ssh import RemoteHost

__all__ = ["DpkgSnapshot", "dpkg_snapshot", "install_command", "install_packages",
           "install_script", "install_shell", "missing_packages", "parse_dpkg", "removal_script",
           "removal_shell"]

INSTALL_TIMEOUT_S = 1800


def install_command(packages: Sequence[str]) -> str:
    """The apt-get line, as it runs and as the runbook shows it."""
    return ("apt-get install -y --no-install-recommends "
            + " ".join(shlex.quote(p) for p in packages))


def install_shell(host: str, packages: Sequence[str]) -> Shell:
    """install_packages' apt-get on `host` as a command, for a runbook: it runs for the ones
    missing only (the runbook lists them all)."""
    return Shell.sh(host, install_script(packages), timeout=INSTALL_TIMEOUT_S,
                    note="only the ones missing; the package lists are updated first only "
                         "if apt-get has no candidate for one of them")


def install_script(packages: Sequence[str]) -> str:
    """The `sh -c` script install_packages runs (the runbook renders it as a Shell). A host
    whose package lists were never fetched (a fresh VM or container image) has no candidate:
    apt-get's simulation says so, and only then are the lists updated."""
    names = " ".join(shlex.quote(p) for p in packages)
    return (f"apt-get -s -q install {names} >/dev/null 2>&1 || apt-get update -q; "
            f"DEBIAN_FRONTEND=noninteractive {install_command(packages)} </dev/null")


# Every package dpkg knows, with its state: 'ii ' installed, 'rc ' removed with its config
# files left, 'un ' not installed, others half-way (unpacked, half-configured: on disk).
DPKG_LIST = "dpkg-query -W -f '${binary:Package} ${db:Status-Abbrev}\\n'"


@dataclass(frozen=True)
class DpkgSnapshot:
    """What dpkg lists on a host: installed (on disk, in any state but not-installed and
    config-files) and removed with their config files left."""

    installed: frozenset[str]
    config_files: frozenset[str]


def parse_dpkg(text: str) -> DpkgSnapshot:
    installed: set[str] = set()
    config_files: set[str] = set()
    for line in text.splitlines():
        name, _, abbrev = line.partition(" ")
        if not name or len(abbrev) < 2:
            continue
        if abbrev[1] == "c":
            config_files.add(name)
        elif abbrev[1] != "n":
            installed.add(name)
    return DpkgSnapshot(frozenset(installed), frozenset(config_files))


async def dpkg_snapshot(host: RemoteHost) -> DpkgSnapshot:
    out = await host.run(["sh", "-c", DPKG_LIST])
    return parse_dpkg(out.stdout)


def removal_shell(host: str, packages: Iterable[str], config_files_before: Iterable[str],
                  *, note: str = "") -> Shell:
    """dpkg removes exactly `packages` (in one run, so their order among themselves is dpkg's
    concern) and purges the ones that had left nothing behind before, so dpkg lists each as it
    did; nothing at all if another package depends on one of them (the simulation refuses
    first: dpkg alone would remove the others and stop at that one)."""
    names = sorted(set(packages))
    kept = set(config_files_before)
    purge = [n for n in names if n not in kept]
    return Shell.sh(host, removal_script(" ".join(shlex.quote(n) for n in names),
                                         " ".join(shlex.quote(n) for n in purge)),
                    timeout=INSTALL_TIMEOUT_S, note=note)


def removal_script(listed: str, purged: str) -> str:
    """removal_shell's script for names already quoted (or a runbook's placeholders)."""
    script = (f"dpkg --simulate --remove {listed} >/dev/null && "
              f"DEBIAN_FRONTEND=noninteractive dpkg --remove {listed} </dev/null")
    if purged:
        script += f" && DEBIAN_FRONTEND=noninteractive dpkg --purge {purged} </dev/null"
    return script


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
