"""An existing backup of the source, as discovery found it (`backup_method = "existing"`).

The contract between discovery (core/backups: what is there, and whether the source's binary
logs still reach back to it) and the replicas step (which streams it to every replica,
prepares it and replicates from its position)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from moodle_wizard.core.facts.base import Facts


class BackupKind(StrEnum):
    # A mariadb-backup (or xtrabackup) target directory: sent as it is (tar), prepared on
    # each replica unless it was prepared already.
    DIRECTORY = "directory"
    # One xbstream file (mariadb-backup --stream=xbstream > file): unpacked with mbstream on
    # each replica, then prepared.
    XBSTREAM = "xbstream"
    # An SQL dump (mariadb-dump --single-transaction with --gtid --master-data): imported.
    DUMP = "dump"


class ExistingBackup(Facts):
    host: str
    # The file or directory itself (the inventory's path, or the newest backup under it).
    path: str
    kind: BackupKind
    # "gzip", "zstd", ... or None: how the file must be read (a directory: None).
    compression: str | None = None
    # A directory already prepared (--prepare ran): not prepared again. None: not a directory.
    prepared: bool | None = None
    # The server the backup was taken of, as the backup says ("10.11.19-MariaDB").
    server_version: str | None = None
    size_bytes: int
    # When the backup ended (its own record, else the file's mtime), with the timezone.
    taken_at: datetime
    # The GTID position the backup is consistent with (a replica seeded from it starts
    # replicating there).
    gtid_position: str
    # Whether the source's binary logs still hold every transaction after gtid_position, and
    # the earliest position they start at (for the operator's message).
    binlogs_reach: bool
    binlogs_start: str | None = None
    # Why the binlogs do not reach it, one line naming the fix (None: they do): the other
    # server's backup, the binlog file a dump names purged, the logs purged past it.
    binlogs_problem: str | None = None
    # The directory the inventory named, when `path` is the newest backup found in it.
    picked_from: str | None = None
