"""What an existing backup is, read where it lies: kind, compression, prepared or not, server
version, size, when it was taken, and its binary log position.

Only commands that look are run on the backup host: `date`, `stat`, `ls`, `find`, `od`,
`head`/`tail`, `cat` of small files, `du`, a decompressor piped into `head`, and for an
xbstream file a parser that reads the stream and prints its small members (xbstream.py says
why and how). Nothing is written there.

Times: mariadb-backup's `end_time` and mariadb-dump's `Dump completed on` are local times
without a zone; they are turned into an instant by the backup host's own `date -d` (its zone
and its daylight-saving rules), else the file's mtime is used. `taken_at` carries the backup
host's UTC offset, and `now` is that host's clock, so the age is the host's own view.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from moodle_wizard.core.backups import formats, xbstream
from moodle_wizard.core.backups.formats import BinlogCoordinates
from moodle_wizard.core.errors import StepError
from moodle_wizard.core.facts.backup import BackupKind
from moodle_wizard.core.remote.ssh import RemoteHost, Result

__all__ = ["Found", "NotABackup", "inspect_backup"]

CHECKPOINTS = "xtrabackup_checkpoints"
BINLOG_INFO = ("mariadb_backup_binlog_info", "xtrabackup_binlog_info")
INFO = ("mariadb_backup_info", "xtrabackup_info")
# How much of a file's (decompressed) start is read to tell its kind and a dump's header.
HEAD_BYTES = 65536
TAIL_BYTES = 4096
# How many of a directory's newest entries are looked at for a backup.
MAX_CANDIDATES = 12
# A compressed xbstream is decompressed once, whole, on the backup host.
STREAM_TIMEOUT = 4 * 3600.0
DECOMPRESS = {"gzip": "gzip -dc", "zstd": "zstd -dcq", "xz": "xz -dc", "bzip2": "bzip2 -dc"}
RETAKE = "take it again with --single-transaction --gtid --master-data=2"
QPRESS = ("was made with --compress (qpress), which nothing in Debian can decompress on the "
          "replicas; take it again without --compress (pipe the stream through gzip or zstd "
          "instead)")


class NotABackup(StepError):
    """A path that is none of the kinds of backup the wizard knows."""


@dataclass(frozen=True)
class Found:
    """An existing backup as its files describe it (the GTID position may still have to be
    worked out from `coordinates` on the source, see reach.py)."""

    host: str
    path: str
    kind: BackupKind
    compression: str | None
    prepared: bool | None
    server_version: str | None
    size_bytes: int
    taken_at: datetime
    now: datetime
    coordinates: BinlogCoordinates
    # The directory the inventory named, when this is the newest backup found in it.
    picked_from: str | None = None


@dataclass(frozen=True)
class _Stat:
    type: str
    size: int
    mtime: int


class _Probe:
    """The read-only commands on the backup host, each failure one clear line."""

    def __init__(self, host: RemoteHost, tz: timezone, now: datetime) -> None:
        self.host, self.tz, self.now = host, tz, now
        self.name = host.target.name

    async def run(self, argv: list[str], path: str, *, timeout: float | None = 600) -> Result:
        out = await self.host.run(argv, check=False, timeout=timeout)
        if out.exit_status != 0:
            raise self.failure(argv, path, out)
        return out

    def failure(self, argv: list[str], path: str, out: Result) -> StepError:
        err = out.stderr.strip()
        where = f"{self.name}:{path}"
        if "No such file" in err:
            return StepError(f"the backup {where} does not exist; set [backup] path to the "
                             "backup's directory or file (or a directory of backups)")
        if "Permission denied" in err:
            return StepError(f"the backup {where} is not readable by {self.host.target.user} "
                             f"on {self.name}; make it readable (or connect as root)")
        last = err.splitlines()[-1] if err else f"exit status {out.exit_status}"
        return StepError(f"{self.name}: reading the backup {path} failed ({argv[0]}: {last}); "
                         "check the host and the path")

    async def stat(self, path: str) -> _Stat:
        out = await self.run(["stat", "-L", "--printf", "%F\t%s\t%Y\n", "--", path], path)
        kind, size, mtime = out.stdout.strip().split("\t")
        return _Stat(kind, int(size), int(mtime))

    async def cat(self, path: str) -> str:
        return (await self.run(["cat", "--", path], path)).stdout

    async def head(self, path: str, compression: str | None) -> bytes:
        """The file's first HEAD_BYTES, decompressed."""
        if compression is None:
            script = f'head -c {HEAD_BYTES} -- "$1" | base64 -w0'
        else:
            tool = DECOMPRESS[compression]
            exe = tool.split()[0]
            script = (f'command -v {exe} >/dev/null 2>&1 || {{ echo "{exe}: not installed" '
                      f'>&2; exit 127; }}; {tool} -- "$1" 2>/dev/null | head -c {HEAD_BYTES} | '
                      'base64 -w0')
        out = await self.host.run(["sh", "-c", script, "sh", path], check=False)
        if out.exit_status == 127:
            raise StepError(f"{self.name}:{path} is {compression}-compressed, but "
                            f"{DECOMPRESS[str(compression)].split()[0]} is not installed on "
                            f"{self.name}; install it there (apt-get install "
                            f"{'zstd' if compression == 'zstd' else compression})")
        if out.exit_status != 0:
            raise self.failure(["head"], path, out)
        return base64.b64decode(out.stdout.strip())

    async def local_time(self, text: str | None, fallback: int) -> datetime:
        """A local time the backup wrote (the host's zone), else the mtime."""
        epoch = fallback
        if text:
            out = await self.host.run(["date", "-d", text, "+%s"], check=False)
            if out.exit_status == 0 and out.stdout.strip().lstrip("-").isdigit():
                epoch = int(out.stdout.strip())
        return datetime.fromtimestamp(epoch, self.tz)


async def _clock(host: RemoteHost) -> tuple[timezone, datetime]:
    out = await host.run(["date", "+%s %z"])
    epoch, offset = out.stdout.split()
    sign = -1 if offset.startswith("-") else 1
    tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    return tz, datetime.fromtimestamp(int(epoch), tz)


async def inspect_backup(host: RemoteHost, path: str) -> Found:
    """The backup at `path` on `host` (a directory of backups: the newest one in it)."""
    tz, now = await _clock(host)
    probe = _Probe(host, tz, now)
    st = await probe.stat(path)
    if st.type == "directory":
        entries = await _entries(probe, path)
        if CHECKPOINTS in entries:
            return await _directory(probe, path, entries, st)
        return await _newest(probe, path)
    if st.type.startswith("regular"):
        return await _file(probe, path, st)
    raise NotABackup(f"{probe.name}:{path} is a {st.type}, not a backup; set [backup] path to "
                     "a mariadb-backup directory, an xbstream file or an SQL dump")


async def _entries(probe: _Probe, path: str) -> list[str]:
    return (await probe.run(["ls", "-A1", "--", path], path)).stdout.splitlines()


async def _newest(probe: _Probe, path: str) -> Found:
    """The newest backup in a directory of backups: its files, and its subdirectories that
    hold xtrabackup_checkpoints, newest first (by that file's mtime for a directory)."""
    out = await probe.run(["find", "-H", path, "-mindepth", "1", "-maxdepth", "2", "-printf",
                           "%d\t%y\t%T@\t%P\n"], path)
    candidates: list[tuple[float, str]] = []
    for line in out.stdout.splitlines():
        fields = line.split("\t", 3)
        if len(fields) != 4:
            continue
        depth, kind, mtime, rel = fields
        if depth == "1" and kind == "f":
            candidates.append((float(mtime), rel))
        elif depth == "2" and kind == "f" and rel.endswith("/" + CHECKPOINTS):
            candidates.append((float(mtime), rel.rsplit("/", 1)[0]))
    candidates.sort(reverse=True)
    for _, rel in candidates[:MAX_CANDIDATES]:
        child = f"{path.rstrip('/')}/{rel}"
        try:
            st = await probe.stat(child)
            if st.type == "directory":
                found = await _directory(probe, child, await _entries(probe, child), st)
            else:
                found = await _file(probe, child, st)
        except NotABackup:
            continue  # a checksum file, a log, a README: not a backup
        return replace(found, picked_from=path)
    raise NotABackup(f"{probe.name}:{path} is a directory, but neither a mariadb-backup "
                     "directory (no xtrabackup_checkpoints) nor a directory holding one, an "
                     "xbstream file or an SQL dump; set [backup] path to the backup itself")


async def _directory(probe: _Probe, path: str, entries: list[str], st: _Stat) -> Found:
    where = f"{probe.name}:{path}"
    if any(e.endswith(".qp") for e in entries):
        raise StepError(f"the backup {where} {QPRESS}")
    if any(e.endswith(".xbcrypt") for e in entries):
        raise StepError(f"the backup {where} is encrypted (xbcrypt); decrypt it there first, "
                        "or take it again without encryption")
    base = path.rstrip("/")
    checkpoints = formats.parse_key_values(await probe.cat(f"{base}/{CHECKPOINTS}"))
    backup_type = checkpoints.get("backup_type", "")
    if backup_type == "incremental":
        raise StepError(f"the backup {where} is an incremental backup, which cannot seed a "
                        "replica alone; point [backup] path at its full backup, prepared with "
                        "the increments applied")
    info = await _first(probe, base, entries, INFO)
    binlog = await _first(probe, base, entries, BINLOG_INFO)
    values = formats.parse_key_values(info or "")
    # -D: the size of what a symlinked path points to, not of the link.
    size = int((await probe.run(["du", "-sbD", "--", path], path)).stdout.split()[0])
    return Found(
        host=probe.name, path=path, kind=BackupKind.DIRECTORY, compression=None,
        prepared=backup_type == "full-prepared", server_version=values.get("server_version"),
        size_bytes=size, taken_at=await probe.local_time(values.get("end_time"), st.mtime),
        now=probe.now, coordinates=_coordinates(where, binlog, values))


async def _first(probe: _Probe, base: str, entries: list[str],
                 names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in entries:
            return await probe.cat(f"{base}/{name}")
    return None


def _coordinates(where: str, binlog_info: str | None,
                 info: dict[str, str]) -> BinlogCoordinates:
    """The binlog position from *_binlog_info, else from *_info's binlog_pos."""
    found = formats.parse_binlog_info(binlog_info) if binlog_info else None
    if found is None and info.get("binlog_pos"):
        found = formats.parse_info_binlog_pos(info["binlog_pos"])
    if found is None:
        raise StepError(f"the backup {where} records no binary log position (no "
                        "xtrabackup_binlog_info): the source's binary log was off when it was "
                        "taken, so a replica seeded from it could never catch up; take a new "
                        "backup with the binary log on, or seed with backup_method = "
                        "\"physical\"")
    return found


async def _file(probe: _Probe, path: str, st: _Stat) -> Found:
    where = f"{probe.name}:{path}"
    magic = bytes.fromhex("".join((await probe.run(
        ["od", "-An", "-tx1", "-N", "8", "--", path], path)).stdout.split()))
    compression = formats.compression_of(magic)
    if compression == "qpress":
        raise StepError(f"the backup {where} {QPRESS}")
    if compression is None and (len(magic) < 8 or magic.startswith(formats.XBSTREAM_MAGIC)):
        start = magic  # all there is, or plain xbstream: no need to read further
    else:
        start = await probe.head(path, compression)
    if start.startswith(formats.XBSTREAM_MAGIC):
        return await _xbstream(probe, path, st, compression)
    text = start.decode("utf-8", "replace")
    if formats.looks_like_dump(text):
        return await _dump(probe, path, st, compression, text)
    shown = start[:8].hex(" ")
    raise NotABackup(f"{where} is neither a mariadb-backup directory, an xbstream file nor an "
                     f"SQL dump (it starts with bytes {shown or 'none: it is empty'}"
                     f"{', ' + compression + '-compressed' if compression else ''}); set "
                     "[backup] path to the backup itself")


async def _xbstream(probe: _Probe, path: str, st: _Stat, compression: str | None) -> Found:
    where = f"{probe.name}:{path}"
    if compression is None:
        argv = ["perl", "-e", xbstream.PARSER, "--", path]
    else:
        argv = ["sh", "-c", f'{{ {DECOMPRESS[compression]} -- "$1" || echo "decompression '
                'failed" >&2; } | perl -e "$2"', "sh", path, xbstream.PARSER]
    shown = (f"perl -e '<xbstream member reader>' -- {path}" if compression is None else
             f"{DECOMPRESS[compression]} -- {path} | perl -e '<xbstream member reader>'")
    out = await probe.host.run(argv, check=False, display=shown,
                               timeout=600 if compression is None else STREAM_TIMEOUT)
    if "decompression failed" in out.stderr:
        raise StepError(f"the backup {where} could not be decompressed to its end "
                        f"({compression}): it is damaged or cut short; take it again")
    if out.exit_status == 127 or "perl: not found" in out.stderr:
        raise StepError(f"{probe.name} has no perl, which reads the position inside the "
                        f"xbstream {path} without unpacking it; install perl-base there")
    if out.exit_status == 2:
        raise StepError(f"the backup {where} is not a whole xbstream "
                        f"({out.stderr.strip() or 'unreadable'}); take it again")
    if out.exit_status != 0:
        raise probe.failure(["perl"], path, out)
    members = xbstream.parse_parser_output(out.stdout, where)
    if members.qpress:
        raise StepError(f"the backup {where} {QPRESS}")
    if members.encrypted:
        raise StepError(f"the backup {where} is encrypted (xbcrypt); decrypt it there first, "
                        "or take it again without encryption")
    checkpoints = members.text(CHECKPOINTS)
    if checkpoints is None:
        raise StepError(f"the backup {where} has no xtrabackup_checkpoints in its stream: it "
                        "was cut short or is still being written; take it again (or wait)")
    if formats.parse_key_values(checkpoints).get("backup_type") == "incremental":
        raise StepError(f"the backup {where} is an incremental backup, which cannot seed a "
                        "replica alone; take a full backup")
    values = formats.parse_key_values(members.text(*INFO) or "")
    return Found(
        host=probe.name, path=path, kind=BackupKind.XBSTREAM, compression=compression,
        prepared=None, server_version=values.get("server_version"), size_bytes=st.size,
        taken_at=await probe.local_time(values.get("end_time"), st.mtime), now=probe.now,
        coordinates=_coordinates(where, members.text(*BINLOG_INFO), values))


async def _dump(probe: _Probe, path: str, st: _Stat, compression: str | None,
                text: str) -> Found:
    where = f"{probe.name}:{path}"
    head = formats.parse_dump_head(text)
    if head.mysql_gtid_purged:
        raise StepError(f"the dump {where} holds a MySQL GTID set (GTID_PURGED): it is a "
                        "MySQL server's dump, and the wizard migrates MariaDB sources; use "
                        "backup_method = \"physical\"")
    gtid, completed_at = head.gtid, None
    if compression is None:
        # Its end says whether it is whole, and a recent mariadb-dump (10.11.19's does;
        # older ones wrote it at the top) writes --master-data's gtid_slave_pos there
        # ("The deferred gtid setting ..."), not at the top.
        # Cheap only uncompressed: a compressed dump's GTID position is worked out from the
        # binlog file and position at its top (reach.py, on the source), and its end is
        # checked by its decompressor when the restore reads it.
        tail = (await probe.run(["tail", "-c", str(TAIL_BYTES), "--", path], path)).stdout
        gtid = gtid or formats.parse_dump_head(tail).gtid
        completed, completed_at = formats.parse_dump_completed(tail)
        if head.commented and not completed:
            raise StepError(f"the dump {where} does not end with '-- Dump completed': it is "
                            f"still being written, or was cut short; wait for it, or {RETAKE}")
    if gtid is None and head.binlog_file is None:
        raise StepError(f"the dump {where} records no replication position (it was taken "
                        f"without --master-data or --gtid); {RETAKE}")
    return Found(
        host=probe.name, path=path, kind=BackupKind.DUMP, compression=compression,
        prepared=None, server_version=head.server_version, size_bytes=st.size,
        taken_at=await probe.local_time(completed_at, st.mtime), now=probe.now,
        coordinates=BinlogCoordinates(head.binlog_file, head.binlog_pos, gtid))
