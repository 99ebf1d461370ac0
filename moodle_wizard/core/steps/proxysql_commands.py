"""What the ProxySQL step runs on the proxy hosts and the source, as command objects
(core/command.py): apply and rollback run them, the plans render them (with placeholders for
what only the host tells at run time: the time, the files there), so the runbook is what runs.
"""

from __future__ import annotations

from moodle_wizard.core.command import (
    Command,
    Secret,
    Shell,
    Sql,
    WithSecret,
    placeholder,
    quote,
)
from moodle_wizard.core.remote import proxysql_node
from moodle_wizard.core.secrets import generate_password
from moodle_wizard.core.sql.dialect import Dialect

BACKUP_BASE = "/var/backups/moodle-wizard"
DATADIR = proxysql_node.DATADIR
READONLY_PASSWORD = Secret("proxysql_readonly_password", generate_password)


def backup_dir(px: str, stamp: str) -> str:
    return f"{BACKUP_BASE}/proxysql-{px}-{stamp}"


def record(px: str, db_files: list[str] | None, stamp: str) -> Shell:
    """ProxySQL's config databases copied aside into a 0700 directory (None: the plan's
    placeholder; the step runs it only when there are some)."""
    files = (" ".join(quote(f"{DATADIR}/{f}") for f in db_files) if db_files is not None
             else placeholder("its config databases"))
    backup = quote(backup_dir(px, stamp))
    return Shell.sh(px, f"install -d -m 0700 {quote(BACKUP_BASE)} && install -d -m 0700 "
                        f"{backup} && cp -a -- {files} {backup}/",
                    note=f"only if {DATADIR} has config databases")


def stop(px: str) -> Shell:
    return Shell(px, ("service", "proxysql", "stop"), timeout=120, note="if it runs")


def start(px: str, *, note: str = "") -> Shell:
    return Shell(px, ("service", "proxysql", "start"), timeout=120, note=note)


def remove_new(px: str, files: list[str] | None) -> Shell:
    """The files ProxySQL made (None: the plan's placeholder); its log stays."""
    shown = files if files is not None else [placeholder("the files it made there")]
    return Shell(px, ("rm", "-f", "--", *shown),
                 note="what was not there before; its log stays")


def put_back(px: str, backup: str) -> Shell:
    b = quote(backup)
    return Shell.sh(px, f"[ -d {b} ] || exit 0; cp -a -- {b}/. {DATADIR}/ && rm -rf -- {b}")


def remove_backup_base(px: str) -> Shell:
    return Shell.sh(px, f"rmdir {BACKUP_BASE} 2>/dev/null || true")


def restore_plan(px: str, backup: str | None, was_running: bool) -> list[Command]:
    """The rollback of one node as its runbook shows it (restore() runs the same pieces)."""
    out: list[Command] = [stop(px), remove_new(px, None)]
    if backup:
        out.append(put_back(px, backup))
    if was_running:
        out.append(start(px))
    out.append(remove_backup_base(px))
    return out


def readonly_user(src: str, d: Dialect, user: str, host: str, dbname: str) -> list[Command]:
    """The optional read-only user from one proxy host (its password set again: CREATE USER
    IF NOT EXISTS keeps an old one), and its SELECT on Moodle's schema."""

    def create(password: str) -> Command:
        return Sql(src, d.create_user(user, host, password))

    def alter(password: str) -> Command:
        return Sql(src, d.alter_user_password(user, host, password))

    return [WithSecret(READONLY_PASSWORD, create), WithSecret(READONLY_PASSWORD, alter),
            Sql(src, d.grant_select(dbname, user, host))]


def drop_user(src: str, d: Dialect, user: str, host: str) -> Sql:
    return Sql(src, d.drop_user(user, host))
