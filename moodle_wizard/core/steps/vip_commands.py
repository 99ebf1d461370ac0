"""What the VIP step runs on a proxy host, as command objects (core/command.py): apply runs
them and the plan and rollback plan render them, so the runbook is what runs.

keepalived.conf is rendered by a function of the auth_pass (`WithSecret`): with MASK for the
runbook, with the generated secret when it is written.
"""

from __future__ import annotations

from collections.abc import Callable

from moodle_wizard.core.command import (
    Command,
    Secret,
    Shell,
    WithSecret,
    WriteFile,
    placeholder,
    quote,
)
from moodle_wizard.core.secrets import generate_password
from moodle_wizard.core.steps.vip_node import CHECK_SCRIPT, CONF, check_script

BACKUP_BASE = "/var/backups/moodle-wizard"
# keepalived takes 8 characters of auth_pass at most.
AUTH_PASS = Secret("keepalived_auth_pass", lambda: generate_password(8))
# The runbook's virtual_router_id before the preflight has listened to the segment.
VRID_UNDECIDED = placeholder("the id preflight finds unused on the segment")


def backup_path(px: str, stamp: str) -> str:
    return f"{BACKUP_BASE}/keepalived.conf.{px}.{stamp}"


def record(px: str, stamp: str) -> Shell:
    """keepalived.conf copied aside (the step runs it only if there is one)."""
    return Shell.sh(px, f"install -d -m 0700 {BACKUP_BASE} && "
                        f"cp -a -- {CONF} {quote(backup_path(px, stamp))}",
                    note=f"only if {CONF} exists")


def config(px: str, client_port: int, conf: Callable[[str], str]) -> list[Command]:
    """The check script, keepalived.conf (`conf(auth_pass)`), then keepalived's own check of
    it (the last command: its exit status is read, not checked)."""

    def write_conf(auth_pass: str) -> Command:
        return WriteFile(px, CONF, conf(auth_pass), 0o640)

    return [WriteFile(px, CHECK_SCRIPT, check_script(client_port), 0o755),
            WithSecret(AUTH_PASS, write_conf),
            Shell(px, ("keepalived", "--config-test", "-f", CONF), check=False)]


def restore(px: str, backup: str | None, script_existed: bool) -> list[Command]:
    """keepalived.conf as it was (the copy put back, or none), the check script removed
    unless it was there before, the backup directory removed if empty."""
    out: list[Command] = []
    if backup:
        b = quote(backup)
        out.append(Shell.sh(px, f"[ -e {b} ] || exit 0; cp -a -- {b} {CONF} && rm -f -- {b}"))
    else:
        out.append(Shell(px, ("rm", "-f", CONF)))
    if not script_existed:
        out.append(Shell(px, ("rm", "-f", CHECK_SCRIPT)))
    out.append(Shell.sh(px, f"rmdir {BACKUP_BASE} 2>/dev/null || true"))
    return out
