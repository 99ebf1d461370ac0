"""Seeding from an existing backup (`backup_method = "existing"`): what the seed job on the
backup's host reads, and what each replica does with the bytes. Pure text.

The job is the live stream's (`seed.sender_script`: one read, `tee` to one SSH per replica,
encrypted, from a temporary key allowed for one command): only its first command differs. It
reads the backup as it lies, and the source is not read at all; the replicas then catch up
from the backup's GTID position with the source's binary logs (discovery checked that they
still reach back that far).

- a mariadb-backup directory is sent as a tar of its contents and unpacked into the replica's
  empty datadir, then prepared there like a live physical seed (preparing a backup that was
  prepared already only says so);
- an xbstream file is sent as it is (decompressed on the way if it is gzip or zstd) and
  unpacked with the dialect's mbstream/xbstream, then prepared;
- an SQL dump is decompressed on the way and imported like a logical seed.
"""

from __future__ import annotations

import shlex

from moodle_wizard.core.facts.backup import BackupKind, ExistingBackup
from moodle_wizard.core.steps.base import StepError
from moodle_wizard.core.steps.replicas import seed

# How a compressed file is read on the backup host (each tool's "decompress to stdout").
DECOMPRESS = {None: "cat", "gzip": "gzip -dc", "zstd": "zstd -dc", "xz": "xz -dc",
              "bzip2": "bzip2 -dc"}


def read_command(backup: ExistingBackup) -> str:
    """The seed job's first command: the backup's bytes on stdout."""
    path = shlex.quote(backup.path)
    if backup.kind == BackupKind.DIRECTORY:
        # Its contents, not the directory itself: they land at the top of the datadir.
        return f"tar -C {path} -cf - ."
    tool = DECOMPRESS.get(backup.compression)
    if tool is None:
        raise StepError(f"{backup.host}:{backup.path} is compressed with "
                        f"{backup.compression}, which the wizard cannot read on the way; "
                        "decompress it there, or take the backup again without it")
    return f"{tool} -- {path}"


def receive_command(backup: ExistingBackup, datadir: str, client: str, extract: str) -> str:
    """The forced command on each replica (in the temporary key's authorized_keys line)."""
    if backup.kind == BackupKind.DIRECTORY:
        # Owned by root as unpacked: the prepare's job ends with chown -R mysql:mysql.
        return f"tar -x --no-same-owner -C {shlex.quote(datadir)}"
    method = "logical" if backup.kind == BackupKind.DUMP else "physical"
    return seed.receive_command(method, datadir, client, extract)


def describe(backup: ExistingBackup) -> str:
    """The backup as the plan names it: 'the mariadb-backup directory backup:/srv/b'."""
    what = {BackupKind.DIRECTORY: "mariadb-backup directory", BackupKind.XBSTREAM:
            "xbstream file", BackupKind.DUMP: "SQL dump"}[backup.kind]
    return f"the existing {what} {backup.host}:{backup.path}"
