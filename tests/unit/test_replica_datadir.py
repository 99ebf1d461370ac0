"""The replica datadir's proof of ownership, run by a real shell on a scratch directory (the
same commands the wizard sends to a replica host, with the datadir's path pointed there)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from moodle_wizard.core.remote.ssh import Result
from moodle_wizard.core.steps.replicas import datadir as rd

OWNER = "mwlab@20261201T120000000000"


class LocalShell:
    """Runs the wizard's commands with this machine's sh, as a replica host would."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    async def run(self, argv: Sequence[str], *, input: str | bytes | None = None,
                  check: bool = True, timeout: float | None = 600,
                  display: str | None = None) -> Result:
        self.commands.append(display or " ".join(argv))
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode is not None
        if check and proc.returncode != 0:
            raise RuntimeError(f"{display}: exit {proc.returncode}: {err.decode()}")
        return Result(proc.returncode, out.decode(), err.decode())


@pytest.fixture()
def datadir(tmp_path: Path) -> Path:
    d = tmp_path / "mysql"
    d.mkdir()
    (d / "precious").mkdir()
    (d / "precious" / "data").write_text("keep")
    (d / "ibdata1").write_text("x")
    return d


def inspect(path: Path) -> rd.Datadir:
    return asyncio.run(rd.inspect(LocalShell(), "mwlab", str(path)))


def empty(path: Path, owner: str = OWNER) -> None:
    asyncio.run(rd.empty_ours(LocalShell(), owner, str(path)))


def test_the_operators_datadir_is_not_ours_and_is_described(datadir: Path) -> None:
    d = inspect(datadir)
    assert d.exists and not d.empty and not d.mountpoint and not d.symlink
    assert sorted(d.entries) == ["ibdata1", "precious"]
    assert d.marker is None and not d.ours(OWNER)
    assert d.aside == f"{datadir}.moodle-wizard-mwlab" and not d.aside_exists
    assert d.movable_problem("db2") is None


@pytest.mark.parametrize("marker", [None, "mwlab@20251101T000000000000", "link"])
def test_a_datadir_without_this_migrations_marker_is_never_emptied(datadir: Path,
                                                                   marker: str | None) -> None:
    if marker == "link":
        # A marker planted as a link to a file that holds the right token proves nothing.
        (datadir.parent / "planted").write_text(OWNER + "\n")
        (datadir / rd.MARKER_NAME).symlink_to(datadir.parent / "planted")
    elif marker:
        (datadir / rd.MARKER_NAME).write_text(marker + "\n")
    with pytest.raises(RuntimeError, match="does not carry this migration's marker"):
        empty(datadir)
    assert (datadir / "precious" / "data").read_text() == "keep"
    assert (datadir / "ibdata1").exists()


def test_ours_is_emptied_keeping_the_marker_then_without_it(datadir: Path) -> None:
    (datadir / rd.MARKER_NAME).write_text(OWNER + "\n")
    d = inspect(datadir)
    assert d.ours(OWNER) and "precious" in d.entries and rd.MARKER_NAME not in d.entries
    empty(datadir)
    assert os.listdir(datadir) == [rd.MARKER_NAME]
    assert inspect(datadir).empty
    asyncio.run(rd.empty_ours(LocalShell(), OWNER, str(datadir), keep_marker=False))
    assert os.listdir(datadir) == []


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mariadbd") is None,
                    reason="claim chowns to mysql: needs root and the mysql user")
def test_claim_makes_a_missing_datadir_provably_ours(tmp_path: Path) -> None:
    path = tmp_path / "fresh"
    asyncio.run(rd.claim(LocalShell(), OWNER, str(path)))
    d = inspect(path)
    assert d.exists and d.empty and d.ours(OWNER)
    assert oct(path.stat().st_mode & 0o777) == "0o750"


def test_a_symlinked_or_aside_taken_datadir_cannot_be_moved(datadir: Path,
                                                            tmp_path: Path) -> None:
    link = tmp_path / "linked"
    link.symlink_to(datadir)
    d = inspect(link)
    assert d.symlink and not d.empty
    assert "symbolic link" in (d.movable_problem("db2") or "")
    Path(f"{datadir}.moodle-wizard-mwlab").mkdir()
    taken = inspect(datadir)
    assert taken.aside_exists
    assert "the wizard keeps both" in (taken.movable_problem("db2") or "")


def test_inspection_parses_server_and_replication_files() -> None:
    d = rd.parse_inspection("/var/lib/mysql", "/var/lib/mysql.moodle-wizard-m",
                            "exists=1\nmountpoint=1\npids=123 456\nentry=master.info\n"
                            "entry=mysql\nmarker=m@1\n")
    assert d.server_pids == (123, 456) and d.replicating and d.mountpoint
    assert d.describe() == ("master.info, mysql; a server is running on it; it is a replica "
                            "of another server")
    assert "mount point" in (d.movable_problem("db3") or "")


def fresh_datadir(path: Path, *, running: bool = False) -> Path:
    """What Debian's postinst (mariadb-install-db) leaves, as listed on a lab host; a first
    start adds the temporary tablespace, the DDL log and an empty multi-master.info."""
    path.mkdir()
    for schema in ("mysql", "performance_schema", "sys"):
        (path / schema).mkdir()
    (path / "mysql" / "global_priv.frm").write_text("x")
    for name in ("aria_log.00000001", "aria_log_control", "debian-10.11.flag",
                 "ib_buffer_pool", "ib_logfile0", "ibdata1", "mysql_upgrade_info"):
        (path / name).write_text("x")
    if running:
        for name in ("ibtmp1", "ddl_recovery.log"):
            (path / name).write_text("x")
        (path / "multi-master.info").write_text("")
    return path


@pytest.mark.parametrize("running", [False, True])
def test_a_freshly_installed_servers_datadir_is_fresh(tmp_path: Path, running: bool) -> None:
    d = inspect(fresh_datadir(tmp_path / "mysql", running=running))
    assert d.fresh and not d.replicating and not d.empty
    assert d.kinds["mysql"][0] == "d" and d.kinds["ibdata1"] == ("f", 1)
    assert set(d.kinds) == set(d.entries)


@pytest.mark.parametrize("change", [
    "user schema", "binary log", "binary log index", "relay log", "master.info",
    "named connections", "unknown file", "symlink", "no mysql", "many entries",
    "marker only"])
def test_anything_else_in_it_is_someones_data(tmp_path: Path, change: str) -> None:
    path = fresh_datadir(tmp_path / "mysql")
    if change == "user schema":
        (path / "moodle").mkdir()
    elif change == "binary log":
        (path / "mysql-bin.000001").write_text("x")
    elif change == "binary log index":
        (path / "mariadb-bin.index").write_text("x")
    elif change == "relay log":
        (path / "mysql-relay-bin.000001").write_text("x")
    elif change == "master.info":
        (path / "master.info").write_text("x")
    elif change == "named connections":
        (path / "multi-master.info").write_text("backup\n")
    elif change == "unknown file":
        (path / "notes.txt").write_text("mine")
    elif change == "symlink":
        (path / "sys").rmdir()
        (path / "sys").symlink_to(tmp_path)
    elif change == "no mysql":
        shutil.rmtree(path / "mysql")
    elif change == "many entries":
        for i in range(60):
            (path / f"aria_log.{i:08d}").write_text("x")
    elif change == "marker only":
        shutil.rmtree(path)
        path.mkdir()
        (path / rd.MARKER_NAME).write_text("someone\n")
    d = inspect(path)
    assert not d.fresh, (change, d.kinds)


def test_a_fake_listing_without_kinds_is_not_fresh() -> None:
    d = rd.parse_inspection("/var/lib/mysql", "/a", "exists=1\nentry=mysql\nentry=ibdata1\n")
    assert not d.fresh
    d = rd.parse_inspection("/var/lib/mysql", "/a", "exists=1\nentry=mysql\nentry=ibdata1\n"
                            "kind=d:4096:mysql\nkind=f:12:ibdata1\n")
    assert d.fresh
