"""An existing backup of the source (`backup_method = "existing"`): what it is (inspect.py,
read where it lies, read-only), whether the source's binary logs still reach back to it
(reach.py), and how the operator is told (`summary`).

`discover_backup` is what discovery calls; its result is the `ExistingBackup` fact the
replicas step restores from.
"""

from __future__ import annotations

from datetime import datetime

from rich.filesize import decimal

from moodle_wizard.core.backups.inspect import Found, NotABackup, inspect_backup
from moodle_wizard.core.backups.reach import Db, Reach, check_reach
from moodle_wizard.core.facts.backup import BackupKind, ExistingBackup
from moodle_wizard.core.remote.ssh import RemoteHost

__all__ = ["Found", "NotABackup", "Reach", "check_reach", "describe_kind", "discover_backup",
           "inspect_backup", "summary"]


async def discover_backup(host: RemoteHost, path: str, db: Db,
                          source: str) -> tuple[ExistingBackup, datetime]:
    """The backup at `path` on `host`, whether `source`'s binary logs (through `db`) still
    reach back to it, and the backup host's clock now. Refuses (StepError) what is no
    usable backup; a backup the logs no longer reach is recorded with `binlogs_reach =
    False` and the reason."""
    found = await inspect_backup(host, path)
    reach = await check_reach(db, source, f"{found.host}:{found.path}", found.coordinates)
    return ExistingBackup(
        host=found.host, path=found.path, kind=found.kind, compression=found.compression,
        prepared=found.prepared, server_version=found.server_version,
        size_bytes=found.size_bytes, taken_at=found.taken_at, gtid_position=reach.position,
        binlogs_reach=reach.reaches, binlogs_start=reach.start, binlogs_problem=reach.problem,
        picked_from=found.picked_from), found.now


def describe_kind(b: ExistingBackup) -> str:
    """'mariadb-backup directory, not prepared', 'xbstream file, zstd-compressed', ..."""
    what = {BackupKind.DIRECTORY: "mariadb-backup directory", BackupKind.XBSTREAM:
            "xbstream file", BackupKind.DUMP: "SQL dump"}[b.kind]
    if b.prepared is not None:
        what += ", prepared" if b.prepared else ", not prepared (each replica prepares it)"
    if b.kind != BackupKind.DIRECTORY:
        what += f", {b.compression}-compressed" if b.compression else ", not compressed"
    return what


def _age(seconds: float) -> str:
    if seconds < 0:
        return "in the future by the backup host's clock"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min ago"
    hours = minutes // 60
    return f"{hours} h ago" if hours < 48 else f"{hours // 24} days ago"


def summary(b: ExistingBackup, now: datetime) -> list[str]:
    """What the operator is told about the backup, one fact a line (`now`: the backup
    host's clock, or this machine's)."""
    where = f"{b.host}:{b.path}"
    lines = [f"backup: {where}" + (f" (the newest in {b.picked_from})" if b.picked_from else ""),
             f"backup kind: {describe_kind(b)}",
             f"backup server version: {b.server_version or 'not recorded'}",
             f"backup size: {decimal(b.size_bytes)}",
             f"backup taken: {b.taken_at:%Y-%m-%d %H:%M:%S %z} "
             f"({_age((now - b.taken_at).total_seconds())})",
             f"backup GTID position: {b.gtid_position or 'none'}"]
    if b.binlogs_reach:
        start = f" (they begin after {b.binlogs_start or 'nothing: none purged'})"
        lines.append(f"binary logs: reach back to the backup{start}")
    else:
        lines.append(f"binary logs: do NOT reach back to the backup: {b.binlogs_problem}")
    return lines
