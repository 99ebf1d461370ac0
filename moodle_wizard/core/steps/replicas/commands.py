"""What the replicas step runs on a replica host to install, stop, configure and start its
server, as command objects (core/command.py): apply and rollback run them, the plans render
them, so the runbook is what runs. (Replication's statements: `replication`.)"""

from __future__ import annotations

from moodle_wizard.core.command import Command, Shell, WriteFile
from moodle_wizard.core.remote.packages import INSTALL_TIMEOUT_S, install_shell
from moodle_wizard.core.steps.prepare_source import service_name
from moodle_wizard.core.steps.replicas import datadir

# The replica keeps a binary log (to be promotable); a fresh host may lack its directory.
LOG_DIR = "/var/log/mysql"


def install(r: str, packages: list[str]) -> Shell:
    return install_shell(r, packages)


def stop(r: str, flavor: str, *, note: str = "") -> Shell:
    """Stop the server (its exit status is not checked: nothing may run; the step then
    checks with pidof that nothing does)."""
    return Shell(r, ("service", service_name(flavor), "stop"), check=False, note=note)


def config(r: str, path: str, content: str) -> WriteFile:
    return WriteFile(r, path, content, 0o644)


def start(r: str, flavor: str) -> list[Command]:
    return [Shell(r, ("install", "-d", "-o", "mysql", "-g", "mysql", LOG_DIR)),
            Shell(r, ("service", service_name(flavor), "restart"), timeout=600)]


def uninstall(r: str, packages: list[str]) -> Shell:
    return Shell.sh(r, "DEBIAN_FRONTEND=noninteractive apt-get remove -y "
                       + " ".join(packages) + " </dev/null", timeout=INSTALL_TIMEOUT_S)


def empty_ours(r: str, owner: str, *, note: str = "") -> Shell:
    """The datadir's contents deleted, checked in the same command against the marker."""
    return Shell.sh(r, datadir.empty_ours_script(owner), note=note)


def move_aside(r: str, aside: str) -> Shell:
    return Shell(r, ("mv", "--no-target-directory", datadir.DATADIR, aside),
                 note="only if it holds data that is not this migration's (a freshly "
                      "installed server's system tables, or data the inventory allows to "
                      "replace): kept, never deleted; rollback moves it back")


def claim(r: str, owner: str, *, note: str = "") -> Shell:
    """The datadir made (if missing) and marked as this migration's: only a datadir carrying
    the marker is ever emptied."""
    return Shell.sh(r, datadir.claim_script(owner), note=note)


def datadir_commands(r: str, owner: str, aside: str) -> list[Command]:
    return [empty_ours(r, owner, note="only if it is this migration's own from an earlier "
                                      "attempt"),
            move_aside(r, aside), claim(r, owner)]


def init(r: str, flavor: str) -> list[Command]:
    """An empty server for a logical seed (its datadir emptied first, on the marker's proof)."""
    return [Shell.sh(r, f"mariadb-install-db --user=mysql --datadir={datadir.DATADIR} "
                        "--skip-test-db > /dev/null"),
            Shell(r, ("service", service_name(flavor), "start"), timeout=300)]
