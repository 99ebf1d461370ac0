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
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from moodle_wizard.core.facts.backup import BackupKind, ExistingBackup
from moodle_wizard.core.steps.base import Problem, StepError, error, warning
from moodle_wizard.core.steps.replicas import seed
from moodle_wizard.core.steps.replicas.common import major_minor

if TYPE_CHECKING:
    from moodle_wizard.core.context import Context
    from moodle_wizard.core.facts.discover import Discovered

# Older than this, the operator is told what the catch-up will replay.
OLD_BACKUP_DAYS = 2

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


async def problems(ctx: Context, discovered: Discovered) -> list[Problem]:
    """What makes an existing backup unusable now, before anything changes: none found, the
    source's binary log off or no longer reaching back to it, a physical backup of another
    server version, a backup host without the tools the seed job runs."""
    inv, src, backup = ctx.inventory, discovered.source, discovered.backup
    if backup is None:
        return [error('backup_method = "existing", but discovery recorded no backup; run '
                      "discovery again")]
    if not src.log_bin:
        return [error(f"{inv.source}'s binary log is off: a replica seeded from an existing "
                      "backup could never catch up with it; use backup_method = "
                      '"physical" (the wizard turns the binary log on)')]
    if not backup.binlogs_reach:
        if backup.binlogs_problem:  # discovery's own line: it knows which case it found
            return [error(backup.binlogs_problem)]
        start = f" start after {backup.binlogs_start}" if backup.binlogs_start else \
            " are purged"
        return [error(f"{inv.source}'s binary logs{start}, but the backup at "
                      f"{backup.host}:{backup.path} is at {backup.gtid_position}: a replica "
                      "seeded from it could never catch up; take a new backup, or seed with "
                      'backup_method = "physical"')]
    found: list[Problem] = []
    if backup.kind != BackupKind.DUMP and backup.server_version and \
            major_minor(backup.server_version) != major_minor(src.version):
        found.append(error(
            f"the backup at {backup.host}:{backup.path} is of server "
            f"{backup.server_version}, {inv.source} runs {src.version}: a physical backup "
            "restores only on the version it was taken of; take a new backup, or seed with "
            'backup_method = "physical"'))
    host = await ctx.host(backup.host)
    tools = "tar" if backup.kind == BackupKind.DIRECTORY else DECOMPRESS.get(
        backup.compression, "cat").split()[0]
    missing = await host.run(["sh", "-c", 'for t; do command -v "$t" >/dev/null || echo "$t"; '
                              "done", "sh", "ssh", tools], check=False)
    if missing.stdout.split():
        found.append(error(f"{backup.host}: {', '.join(missing.stdout.split())} not found; "
                           "the seed job runs them there (install openssh-client, or the "
                           "tool, on it)"))
    days = (datetime.now(UTC) - backup.taken_at).total_seconds() / 86400
    if days > OLD_BACKUP_DAYS:
        found.append(warning(
            f"the backup at {backup.host}:{backup.path} is {days:.0f} days old: each replica "
            f"replays {days:.0f} days of {inv.source}'s binary log after it is restored"))
    return found
