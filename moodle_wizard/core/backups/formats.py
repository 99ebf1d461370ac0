"""What the files of a backup say, as pure parsers: no host, no I/O.

The formats, as MariaDB 10.11's mariadb-backup and mariadb-dump write them (read in the
server's source, extra/mariabackup and client/mysqldump.c, and checked against real files
in 10.11.19's binaries; tests/unit/backup_samples holds samples):

- `xtrabackup_checkpoints`: `key = value` lines; `backup_type = full-backuped` before
  `--prepare`, `full-prepared` after it, `incremental` for an incremental backup.
- `xtrabackup_binlog_info` (11.1 and later: `mariadb_backup_binlog_info`): one line,
  tab-separated: the binlog file, the position, and the GTID position ("" when the server
  had logged no GTID yet; absent from older versions' files).
- `xtrabackup_info` (11.1+: `mariadb_backup_info`): `key = value` lines; `server_version`,
  `end_time` (the backup host's local time, no zone), and `binlog_pos = filename '...',
  position '...', GTID of the last change '...'`.
- an SQL dump begins with `-- MariaDB dump 10.19  Distrib ...` (10.11.8 and later put a
  `/*M!999999\\- enable the sandbox mode */` line before it), has `-- Server version<TAB>...`,
  and with `--master-data[=2]` a `CHANGE MASTER TO MASTER_LOG_FILE='...', MASTER_LOG_POS=...;`
  line near the top, and `SET GLOBAL gtid_slave_pos='...';` (commented out with
  `--master-data=2`): near the top after `-- GTID to start replication from` in older
  versions, at the END after `-- The deferred gtid setting for slave corresponding to the
  master-data CHANGE-MASTER follows` in recent ones (10.11.19's binary has only that text);
  it ends with `-- Dump completed on YYYY-MM-DD HH:MM:SS` (`-- Dump completed` with
  `--skip-dump-date`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "BinlogCoordinates",
    "DumpHead",
    "compression_of",
    "parse_binlog_info",
    "parse_dump_completed",
    "parse_dump_head",
    "parse_key_values",
]

# Magic bytes at a file's start: how it is compressed (None: not at all).
_COMPRESSION_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    # qpress's own archive format (`qpress file` or `mariadb-backup --compress` streamed):
    # nothing in Debian reads it.
    (b"qpress10", "qpress"),
)
XBSTREAM_MAGIC = b"XBSTCK01"


def compression_of(start: bytes) -> str | None:
    """The compression a file's first bytes show, or None."""
    return next((name for magic, name in _COMPRESSION_MAGIC if start.startswith(magic)), None)


def parse_key_values(text: str) -> dict[str, str]:
    """`key = value` lines (xtrabackup_checkpoints, xtrabackup_info)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            out[key.strip()] = value.strip()
        elif line.rstrip().endswith(" ="):  # `name = ` with an empty value
            out[line.rstrip()[:-2].strip()] = ""
    return out


@dataclass(frozen=True)
class BinlogCoordinates:
    """Where a backup stands in its server's binary log: the file and position, and the GTID
    position when the backup recorded one (None: it did not; "" : the server had logged no
    GTID yet)."""

    file: str | None
    pos: int | None
    gtid: str | None


def parse_binlog_info(text: str) -> BinlogCoordinates | None:
    """xtrabackup_binlog_info / mariadb_backup_binlog_info: `file<TAB>pos[<TAB>gtid]`."""
    line = text.strip("\n").split("\n")[0] if text.strip() else ""
    fields = line.split("\t")
    if len(fields) < 2 or not fields[1].strip().isdigit():
        return None
    gtid = fields[2].strip() if len(fields) > 2 else None
    return BinlogCoordinates(fields[0].strip(), int(fields[1]), gtid)


_INFO_BINLOG_RE = re.compile(
    r"filename '(?P<file>[^']*)', position '(?P<pos>\d+)'"
    r"(?:, GTID of the last change '(?P<gtid>[^']*)')?")


def parse_info_binlog_pos(value: str) -> BinlogCoordinates | None:
    """xtrabackup_info's `binlog_pos` value."""
    m = _INFO_BINLOG_RE.search(value)
    if m is None:
        return None
    return BinlogCoordinates(m["file"], int(m["pos"]), m["gtid"])


@dataclass(frozen=True)
class DumpHead:
    """What the first lines of an SQL dump say."""

    tool: str  # "MariaDB dump 10.19  Distrib 10.11.19-MariaDB, ..." ("" : no header comment)
    server_version: str | None
    gtid: str | None  # SET GLOBAL gtid_slave_pos='...' (None: not there)
    binlog_file: str | None  # CHANGE MASTER TO MASTER_LOG_FILE=...
    binlog_pos: int | None
    mysql_gtid_purged: bool  # MySQL's SET @@GLOBAL.GTID_PURGED (a MySQL dump)

    @property
    def commented(self) -> bool:
        """Written with comments (the default): then it also ends with `-- Dump completed`."""
        return bool(self.tool)


_DUMP_TOOL_RE = re.compile(r"^-- ((?:MariaDB|MySQL) dump .*)$", re.M)
_SERVER_VERSION_RE = re.compile(r"^-- Server version\s+(\S.*?)\s*$", re.M)
_GTID_SLAVE_POS_RE = re.compile(
    r"^(?:-- )?SET GLOBAL gtid_slave_pos\s*=\s*'(?P<gtid>[^']*)'\s*;", re.M | re.I)
_CHANGE_MASTER_RE = re.compile(
    r"^(?:-- )?CHANGE (?:MASTER|REPLICATION SOURCE) TO\b[^;]*?"
    r"(?:MASTER|SOURCE)_LOG_FILE\s*=\s*'(?P<file>[^']+)'\s*,\s*"
    r"(?:MASTER|SOURCE)_LOG_POS\s*=\s*(?P<pos>\d+)", re.M | re.I)
_GTID_PURGED_RE = re.compile(r"^SET @@GLOBAL\.GTID_PURGED\s*=", re.M | re.I)
# What only a mysqldump/mariadb-dump file has near its top, with or without comments.
_DUMP_PREAMBLE = "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;"


def looks_like_dump(text: str) -> bool:
    return bool(_DUMP_TOOL_RE.search(text)) or _DUMP_PREAMBLE in text


def parse_dump_head(text: str) -> DumpHead:
    """The header of a dump (its first few KiB, decompressed)."""
    tool = _DUMP_TOOL_RE.search(text)
    version = _SERVER_VERSION_RE.search(text)
    gtid = _GTID_SLAVE_POS_RE.search(text)
    change = _CHANGE_MASTER_RE.search(text)
    return DumpHead(
        tool=tool[1].strip() if tool else "",
        server_version=version[1] if version else None,
        gtid=gtid["gtid"].strip() if gtid else None,
        binlog_file=change["file"] if change else None,
        binlog_pos=int(change["pos"]) if change else None,
        mysql_gtid_purged=bool(_GTID_PURGED_RE.search(text)))


_COMPLETED_RE = re.compile(r"^-- Dump completed(?: on (?P<when>\d{4}-\d\d-\d\d +\d?\d:\d\d:\d\d))?"
                           r"\s*$", re.M)


def parse_dump_completed(tail: str) -> tuple[bool, str | None]:
    """(whether the dump's last lines say it completed, the local time they give)."""
    found = list(_COMPLETED_RE.finditer(tail))
    if not found:
        return False, None
    when = found[-1]["when"]
    return True, re.sub(r" +", " ", when) if when else None
