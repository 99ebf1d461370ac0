"""core/backups/inspect.py against real files: a host that runs the wizard's commands here
(the real stat, od, head, find, du, perl, gzip, zstd on files in tmp_path) and keeps them, so
each test also proves that only reading commands ran.

The samples in backup_samples/ are in the formats MariaDB 10.11's mariadb-backup and mariadb-dump
write (backup_samples/README says how they were checked); the xbstream files are made by the
real mbstream -c.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.backups import NotABackup, inspect_backup
from moodle_wizard.core.backups import xbstream as xb
from moodle_wizard.core.errors import StepError
from moodle_wizard.core.facts.backup import BackupKind
from moodle_wizard.core.remote.ssh import Result, SshTarget

SAMPLES = Path(__file__).parent / "backup_samples"
TZ = "Europe/Berlin"  # +01:00 in December
BERLIN = timezone(timedelta(hours=1))
# The commands inspection may run (an sh -c script only pipes readers into head/perl).
READERS = {"date", "stat", "ls", "find", "od", "cat", "du", "tail", "perl", "sh"}
WRITES = (" > ", ">>", "rm ", "mv ", "cp ", "mkdir", "mbstream", "tee")


class LocalHost:
    """A RemoteHost whose commands run on this machine (TZ fixed); `answers` replaces the
    answer of a command whose argv starts with the key (a failure the machine cannot make)."""

    def __init__(self, answers: dict[tuple[str, ...], Result] | None = None) -> None:
        self.target = SshTarget("backup1", "192.0.2.9", user="root")
        self.ran: list[list[str]] = []
        self.answers = answers or {}

    async def run(self, argv: Sequence[str], *, input: Any = None, check: bool = True,
                  timeout: float | None = 600, on_line: Any = None,
                  display: str | None = None) -> Result:
        argv = list(argv)
        self.ran.append(argv)
        assert argv[0] in READERS, argv
        if argv[0] == "sh":
            assert not any(w in argv[2] for w in WRITES), argv[2]
        for key, result in self.answers.items():
            if tuple(argv[:len(key)]) == key:
                return result
        p = subprocess.run(argv, capture_output=True, env={**os.environ, "TZ": TZ, "LC_ALL": "C"},
                           timeout=60)
        out = Result(p.returncode, p.stdout.decode("utf-8", "replace"),
                     p.stderr.decode("utf-8", "replace"))
        if check and out.exit_status != 0:
            raise AssertionError(f"{argv} failed: {out.stderr}")
        return out


def backup_dir(at: Path, *, prepared: bool = False, binlog_name: str = "xtrabackup_binlog_info",
               info: bool = True) -> Path:
    at.mkdir(parents=True)
    checkpoints = (SAMPLES / "xtrabackup_checkpoints").read_text()
    if prepared:
        checkpoints = checkpoints.replace("full-backuped", "full-prepared")
    (at / "xtrabackup_checkpoints").write_text(checkpoints)
    if binlog_name:
        shutil.copy(SAMPLES / "xtrabackup_binlog_info", at / binlog_name)
    if info:
        shutil.copy(SAMPLES / "xtrabackup_info", at / "xtrabackup_info")
    (at / "ibdata1").write_bytes(b"\0" * 12288)
    (at / "mysql").mkdir()
    (at / "mysql" / "user.frm").write_bytes(b"x" * 100)
    return at


def stream_of(files: Path, out: Path, names: Sequence[str]) -> Path:
    """An xbstream made by the real mbstream -c."""
    if shutil.which("mbstream") is None:
        pytest.skip("mbstream is not installed here")
    with out.open("wb") as f:
        subprocess.run(["mbstream", "-c", *names], cwd=files, stdout=f, check=True)
    return out


def stream(tmp_path: Path, *, compress: str | None = None) -> Path:
    src = backup_dir(tmp_path / "src")
    path = stream_of(src, tmp_path / "nightly.xbstream",
                     ["ibdata1", "xtrabackup_checkpoints", "xtrabackup_binlog_info",
                      "xtrabackup_info"])
    return compressed(path, compress)


def compressed(path: Path, how: str | None) -> Path:
    if how == "gzip":
        out = path.with_name(path.name + ".gz")
        out.write_bytes(gzip.compress(path.read_bytes()))
    elif how == "zstd":
        if shutil.which("zstd") is None:
            pytest.skip("zstd is not installed here")
        out = path.with_name(path.name + ".zst")
        subprocess.run(["zstd", "-q", "-o", str(out), str(path)], check=True)
    else:
        return path
    path.unlink()
    return out


async def inspect(path: Path, host: LocalHost | None = None) -> Any:
    return await inspect_backup(host or LocalHost(), str(path))


# -- a mariadb-backup directory ----------------------------------------------------------

async def test_directory_not_prepared(tmp_path: Path) -> None:
    host = LocalHost()
    found = await inspect(backup_dir(tmp_path / "nightly"), host)
    assert found.kind == BackupKind.DIRECTORY and found.prepared is False
    assert found.compression is None and found.picked_from is None
    assert found.server_version == "10.11.19-MariaDB-deb12-log"
    assert (found.coordinates.file, found.coordinates.pos, found.coordinates.gtid) == (
        "mysql-bin.000002", 1234, "0-1-4100")
    # end_time is the host's local time: 03:00:05 in Berlin is 02:00:05 UTC.
    assert found.taken_at == datetime(2026, 12, 2, 3, 0, 5, tzinfo=BERLIN)
    assert found.taken_at.utcoffset() == found.now.utcoffset()
    assert found.size_bytes >= 12288 + 100
    assert all(argv[0] in READERS for argv in host.ran)


async def test_directory_prepared_and_11_x_names(tmp_path: Path) -> None:
    at = backup_dir(tmp_path / "b", prepared=True, binlog_name="mariadb_backup_binlog_info")
    (at / "xtrabackup_info").rename(at / "mariadb_backup_info")
    found = await inspect(at)
    assert found.prepared is True and found.coordinates.gtid == "0-1-4100"
    assert found.server_version == "10.11.19-MariaDB-deb12-log"


async def test_directory_position_from_info_when_binlog_info_is_missing(tmp_path: Path) -> None:
    found = await inspect(backup_dir(tmp_path / "b", binlog_name=""))
    assert found.coordinates.gtid == "0-1-4100" and found.coordinates.file == "mysql-bin.000002"


async def test_directory_without_any_position_is_refused(tmp_path: Path) -> None:
    at = backup_dir(tmp_path / "b", binlog_name="", info=False)
    with pytest.raises(StepError, match=r"records no binary log position .* binary log was off"):
        await inspect(at)


async def test_directory_without_end_time_uses_the_mtime(tmp_path: Path) -> None:
    at = backup_dir(tmp_path / "b", info=False)
    os.utime(at, (1_790_000_000, 1_790_000_000))
    found = await inspect(at)
    assert found.taken_at.timestamp() == 1_790_000_000 and found.server_version is None


async def test_incremental_directory_is_refused(tmp_path: Path) -> None:
    at = backup_dir(tmp_path / "inc")
    text = (at / "xtrabackup_checkpoints").read_text().replace("full-backuped", "incremental")
    (at / "xtrabackup_checkpoints").write_text(text)
    with pytest.raises(StepError, match="incremental backup, which cannot seed a replica alone"):
        await inspect(at)


async def test_qpress_directory_is_refused(tmp_path: Path) -> None:
    at = backup_dir(tmp_path / "b")
    (at / "ibdata1").rename(at / "ibdata1.qp")
    with pytest.raises(StepError, match=r"--compress \(qpress\), which nothing in Debian"):
        await inspect(at)


# -- a directory of backups ----------------------------------------------------------------

async def test_directory_of_backups_takes_the_newest(tmp_path: Path) -> None:
    top = tmp_path / "backups"
    old = backup_dir(top / "2026-12-01")
    new = backup_dir(top / "2026-12-02", prepared=True)
    (top / "README").write_text("nightly backups\n")
    os.utime(old / "xtrabackup_checkpoints", (1_790_000_000, 1_790_000_000))
    os.utime(new / "xtrabackup_checkpoints", (1_790_086_400, 1_790_086_400))
    os.utime(top / "README", (1_790_000_100, 1_790_000_100))
    found = await inspect(top)
    assert found.path == str(new) and found.picked_from == str(top) and found.prepared


async def test_directory_of_backups_skips_what_is_not_a_backup(tmp_path: Path) -> None:
    top = tmp_path / "backups"
    top.mkdir()
    shutil.copy(SAMPLES / "dump-gtid.sql", top / "moodle.sql")
    os.utime(top / "moodle.sql", (1_790_000_000, 1_790_000_000))
    (top / "moodle.sql.sha256").write_text("abc  moodle.sql\n")  # newer, not a backup
    found = await inspect(top)
    assert found.kind == BackupKind.DUMP and found.path == str(top / "moodle.sql")


async def test_symlinks_to_a_backup_and_to_a_directory_of_backups(tmp_path: Path) -> None:
    top = tmp_path / "backups"
    backup_dir(top / "2026-12-02")
    (tmp_path / "latest").symlink_to(top / "2026-12-02")
    (tmp_path / "all").symlink_to(top)
    found = await inspect(tmp_path / "latest")
    assert found.kind == BackupKind.DIRECTORY and found.size_bytes >= 12288 + 100
    found = await inspect(tmp_path / "all")
    assert found.path == str(tmp_path / "all" / "2026-12-02")


async def test_directory_without_backups_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(NotABackup, match="is a directory, but neither a mariadb-backup "
                                         "directory"):
        await inspect(tmp_path)


# -- xbstream files -----------------------------------------------------------------------

@pytest.mark.parametrize("how", [None, "gzip", "zstd"])
async def test_xbstream(tmp_path: Path, how: str | None) -> None:
    host = LocalHost()
    path = stream(tmp_path, compress=how)
    found = await inspect(path, host)
    assert found.kind == BackupKind.XBSTREAM and found.compression == how
    assert found.prepared is None and found.coordinates.gtid == "0-1-4100"
    assert found.server_version == "10.11.19-MariaDB-deb12-log"
    assert found.size_bytes == path.stat().st_size
    assert found.taken_at == datetime(2026, 12, 2, 3, 0, 5, tzinfo=BERLIN)
    # Plain: the parser seeks (perl reads the file itself); compressed: through a pipe.
    assert any(argv[0] == "perl" for argv in host.ran) == (how is None)


async def test_xbstream_cut_short_is_refused(tmp_path: Path) -> None:
    path = stream(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-40])  # inside the last member's chunks
    with pytest.raises(StepError, match="is not a whole xbstream"):
        await inspect(path)


async def test_xbstream_without_checkpoints_is_refused(tmp_path: Path) -> None:
    src = backup_dir(tmp_path / "src")
    path = stream_of(src, tmp_path / "b.xbstream", ["ibdata1", "xtrabackup_binlog_info"])
    with pytest.raises(StepError, match="has no xtrabackup_checkpoints in its stream"):
        await inspect(path)


async def test_xbstream_damaged_member_is_refused(tmp_path: Path) -> None:
    path = stream(tmp_path)
    data = bytearray(path.read_bytes())
    at = data.index(b"0-1-4100")
    data[at] = ord("9")
    path.write_bytes(bytes(data))
    with pytest.raises(StepError, match="fails its checksum"):
        await inspect(path)


async def test_xbstream_with_qpress_members_is_refused(tmp_path: Path) -> None:
    src = backup_dir(tmp_path / "src")
    (src / "ibdata1").rename(src / "ibdata1.qp")
    path = stream_of(src, tmp_path / "b.xbstream", ["ibdata1.qp", "xtrabackup_checkpoints",
                                                    "xtrabackup_binlog_info"])
    with pytest.raises(StepError, match=r"--compress \(qpress\)"):
        await inspect(path)


async def test_qpress_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.qp"
    path.write_bytes(b"qpress10" + b"\0" * 100)
    with pytest.raises(StepError, match=r"--compress \(qpress\)"):
        await inspect(path)


async def test_missing_decompressor_is_named(tmp_path: Path) -> None:
    path = stream(tmp_path, compress="gzip")
    host = LocalHost({("sh", "-c"): Result(127, "", "gzip: not installed\n")})
    with pytest.raises(StepError, match=r"gzip-compressed, but gzip is not installed on "
                                        r"backup1; install it there"):
        await inspect(path, host)


async def test_parser_output_must_reach_the_end() -> None:
    with pytest.raises(xb.XbstreamError, match="could not be read to its end"):
        xb.parse_parser_output("MEMBERS\t3\t0\t0\n", "backup1:/b")


# -- SQL dumps ----------------------------------------------------------------------------

def grown(dump: str) -> str:
    """The sample dump with ~130 KB of rows: more than the head the wizard reads."""
    row = "INSERT INTO `mdl_config` VALUES (1,'version','2024100700');\n"
    rows = "".join(f"INSERT INTO `mdl_config` VALUES ({i},'setting{i}','{'x' * 40}');\n"
                   for i in range(2, 2000))
    return dump.replace(row, row + rows)


@pytest.mark.parametrize("how", [None, "gzip", "zstd"])
async def test_dump_with_gtid(tmp_path: Path, how: str | None) -> None:
    path = tmp_path / "moodle.sql"
    path.write_text(grown((SAMPLES / "dump-gtid.sql").read_text()))
    path = compressed(path, how)
    os.utime(path, (1_790_000_000, 1_790_000_000))
    host = LocalHost()
    found = await inspect(path, host)
    assert found.kind == BackupKind.DUMP and found.compression == how
    assert (found.coordinates.file, found.coordinates.pos) == ("mysql-bin.000002", 1234)
    assert found.server_version == "10.11.19-MariaDB-deb12-log"
    if how is None:  # the deferred gtid_slave_pos and the last line: 03:00:07 local time
        assert found.coordinates.gtid == "0-1-4100"
        assert found.taken_at == datetime(2026, 12, 2, 3, 0, 7, tzinfo=BERLIN)
    else:  # compressed: never read whole; the GTID comes from the source (reach.py)
        assert found.coordinates.gtid is None
        assert found.taken_at.timestamp() == 1_790_000_000
        assert not any(argv[0] == "tail" for argv in host.ran)


async def test_compressed_dump_with_the_gtid_at_its_top(tmp_path: Path) -> None:
    """Older mariadb-dump wrote gtid_slave_pos near the top, where the head sees it."""
    text = (SAMPLES / "dump-gtid.sql").read_text()
    top = ("--\n-- GTID to start replication from\n--\n\n"
           "-- SET GLOBAL gtid_slave_pos='0-1-4099';\n\n")
    text = text.replace("--\n-- Table structure", top + "--\n-- Table structure", 1)
    path = tmp_path / "moodle.sql"
    path.write_text(grown(text.replace("-- SET GLOBAL gtid_slave_pos='0-1-4100';\n", "")))
    found = await inspect(compressed(path, "gzip"))
    assert found.coordinates.gtid == "0-1-4099"


async def test_dump_with_binlog_file_and_position_only(tmp_path: Path) -> None:
    text = (SAMPLES / "dump-gtid.sql").read_text()
    path = tmp_path / "moodle.sql"
    path.write_text(text.replace("-- SET GLOBAL gtid_slave_pos='0-1-4100';\n", ""))
    found = await inspect(path)
    assert found.coordinates.gtid is None
    assert (found.coordinates.file, found.coordinates.pos) == ("mysql-bin.000002", 1234)


async def test_dump_without_position_is_refused(tmp_path: Path) -> None:
    text = (SAMPLES / "dump-gtid.sql").read_text()
    kept = [line for line in text.splitlines(keepends=True)
            if "CHANGE MASTER" not in line and "gtid_slave_pos" not in line]
    path = tmp_path / "moodle.sql"
    path.write_text("".join(kept))
    with pytest.raises(StepError, match=r"records no replication position \(it was taken "
                                        r"without --master-data or --gtid\); take it again "
                                        r"with --single-transaction --gtid --master-data=2"):
        await inspect(path)


async def test_dump_cut_short_is_refused(tmp_path: Path) -> None:
    text = (SAMPLES / "dump-gtid.sql").read_text()
    path = tmp_path / "moodle.sql"
    path.write_text(text[:text.index("UNLOCK TABLES")])
    with pytest.raises(StepError, match="does not end with '-- Dump completed'"):
        await inspect(path)


async def test_mysql_dump_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mysql.sql"
    path.write_text("-- MySQL dump 10.13  Distrib 8.0.40, for Linux (x86_64)\n--\n"
                    "-- Server version\t8.0.40\n\n"
                    "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '3E11FA47-71CA-11E1-9E33-"
                    "C80AA9429562:1-77';\n\n-- Dump completed on 2026-12-02  3:00:07\n")
    with pytest.raises(StepError, match="MySQL server's dump"):
        await inspect(path)


# -- what is no backup at all -------------------------------------------------------------

async def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StepError, match=r"^the backup backup1:.*/nope does not exist; set "
                                        r"\[backup\] path"):
        await inspect(tmp_path / "nope")


async def test_unreadable_path_is_refused(tmp_path: Path) -> None:
    host = LocalHost({("stat",): Result(1, "", "stat: cannot statx '/srv/b': Permission "
                                                "denied\n")})
    with pytest.raises(StepError, match=r"^the backup backup1:/srv/b is not readable by root "
                                        r"on backup1"):
        await inspect_backup(host, "/srv/b")


async def test_other_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    with pytest.raises(NotABackup, match=r"neither a mariadb-backup directory, an xbstream "
                                         r"file nor an SQL dump \(it starts with bytes ff d8"):
        await inspect(path)


async def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.sql"
    path.touch()
    with pytest.raises(NotABackup, match="none: it is empty"):
        await inspect(path)


async def test_gzip_of_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "logs.gz"
    path.write_bytes(gzip.compress(b"Dec  2 03:00:01 host sshd[1]: hello\n"))
    with pytest.raises(NotABackup, match="gzip-compressed"):
        await inspect(path)
