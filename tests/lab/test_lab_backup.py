"""`lab up --backup nightly|purged` (issue 16 item 4), built for real and checked from inside
the hosts: the backup host holds an unprepared mariadb-backup directory and a gzipped
mariadb-dump of db1, both behind db1's @@gtid_binlog_pos by Moodle's writes; nightly, db1's
binary logs still reach back to them (db1 serves its binary log from their position); purged,
they do not (db1 refuses to).

Two rebuilds of the lab, some minutes: `make test-lab-shapes`, not `make test`. The module
leaves the lab as it found it: down if it was down, else the default lab (as shapes.py does).
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from moodle_wizard.core.inventory import SeedMethod, load_inventory
from moodle_wizard.lab import backup, lab
from moodle_wizard.lab.topology import Shape
from tests.lab.conftest import Lab, proxysql_bin
from tests.lab.shapes import SHAPE_DATA_MB, build, restore_default_lab

pytestmark = pytest.mark.lab_shapes

WIZARD = str(Path(sys.executable).parent / "moodle-wizard")
NIGHTLY = Shape(backup="nightly")
PURGED = Shape(backup="purged")
SERVER_PACKAGES = ["mariadb-server", "mariadb-server-core"]
TOOL_PACKAGES = ["mariadb-backup", "mariadb-client"]


@pytest.fixture(scope="module", autouse=True)
def lab_as_found() -> Iterator[None]:
    was_up = lab.LabState.load(lab.LABDIR) is not None
    yield
    if was_up:
        restore_default_lab()
    else:
        lab.down(out=io.StringIO())
        assert lab.verify_gone() == []


def sql(lab_: Lab, query: str) -> list[list[str]]:
    out = lab_.exec("db1", "mariadb", "-N", "-B", "-e", query).stdout
    return [line.split("\t") for line in out.splitlines()]


def positions(lab_: Lab) -> dict[str, str]:
    """Read anew from the hosts (not from the lab's record): the backups' GTIDs, db1's."""
    info = lab_.exec("backup", "cat", f"{backup.NIGHTLY_DIR}/xtrabackup_binlog_info").stdout
    line = lab_.exec("backup", "sh", "-c", f"zcat {backup.NIGHTLY_DUMP} | "
                     "grep -m1 '^-- SET GLOBAL gtid_slave_pos='").stdout
    return {"directory": backup.binlog_info_gtid(info), "dump": backup.dump_gtid(line),
            "db1": sql(lab_, "SELECT @@gtid_binlog_pos")[0][0]}


def seq(position: str) -> int:
    """The seq_no of a one-domain position such as 0-1-3021."""
    return int(position.split("-")[2])


def earliest_binlog(lab_: Lab) -> tuple[str, str]:
    """db1's earliest binary log and its Gtid_list (what was written before it)."""
    first = sql(lab_, "SHOW BINARY LOGS")[0][0]
    events = sql(lab_, f"SHOW BINLOG EVENTS IN '{first}' LIMIT 4")
    listed = next(row[5] for row in events if row[2] == "Gtid_list")
    return first, backup.gtid_list(listed)


def binlog_from(lab_: Lab, position: str) -> subprocess.CompletedProcess[str]:
    """db1 asked for its binary log from `position`, as a replica seeded there asks for it."""
    return lab_.exec("db1", "mariadb-binlog", "--read-from-remote-server", "--host=localhost",
                     "--user=root", f"--start-position={position}", "--to-last-log",
                     "--result-file=/dev/null", "mysql-bin.000001", check=False)


def check_backups_on_the_backup_host(lab_: Lab) -> dict[str, str]:
    # The backup host: the tools, no server, its own address, reachable from jump as the
    # others are.
    status = lab_.exec("backup", "sh", "-c", "dpkg-query -W -f '${Package} ${Status}\\n' "
                       + " ".join(SERVER_PACKAGES + TOOL_PACKAGES) + " 2>/dev/null || true").stdout
    installed = {line.split(" ", 1)[0] for line in status.splitlines()
                 if line.endswith("install ok installed")}
    assert installed == set(TOOL_PACKAGES), status
    assert lab_.exec("backup", "pidof", "mariadbd", check=False).returncode == 1
    assert lab_.exec("jump", "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "backup",
                     "hostname").stdout.strip() == "backup"
    assert lab_.topo.host_address("backup") == lab_.topo.address(30)

    # The mariadb-backup directory, as the nightly job leaves it: not prepared.
    checkpoints = lab_.exec("backup", "cat", f"{backup.NIGHTLY_DIR}/xtrabackup_checkpoints").stdout
    assert "backup_type = full-backuped" in checkpoints
    files = lab_.exec("backup", "ls", backup.NIGHTLY_DIR).stdout.split()
    assert {"ibdata1", "ib_logfile0", "moodle", "mysql", "backup-my.cnf"} <= set(files)
    # Every table as a nightly of a long-running server has it (.ibd, none created during
    # the backup as .new files: backup.restart_db1).
    tables = lab_.exec("backup", "ls", f"{backup.NIGHTLY_DIR}/moodle").stdout.split()
    assert {t.rsplit(".", 1)[1] for t in tables} == {"opt", "frm", "ibd"}, tables
    assert len([t for t in tables if t.endswith(".ibd")]) == 9
    modes = lab_.exec("backup", "stat", "-c", "%a %U", backup.BACKUP_ROOT).stdout.split()
    assert modes == ["700", "root"]

    # The dump: complete, of the moodle database, with its GTID position.
    lab_.exec("backup", "gzip", "-t", backup.NIGHTLY_DUMP)
    tail = lab_.exec("backup", "sh", "-c", f"zcat {backup.NIGHTLY_DUMP} | tail -n 1").stdout
    assert tail.startswith("-- Dump completed"), tail
    assert lab_.exec("backup", "sh", "-c", f"zcat {backup.NIGHTLY_DUMP} | grep -c "
                     "'^CREATE TABLE `mdl_'").stdout.strip() == "9"

    # Both behind db1 by Moodle's writes since: real catching up for a replica seeded there.
    pos = positions(lab_)
    assert sql(lab_, "SELECT @@log_bin, @@server_id")[0] == ["1", "1"]
    for kind in ("directory", "dump"):
        assert backup.behind(pos[kind], pos["db1"]), pos
        assert seq(pos["db1"]) - seq(pos[kind]) >= backup.WRITES
    return pos


def test_nightly_backups_on_the_backup_host_behind_db1() -> None:
    lab_ = build(NIGHTLY)
    pos = check_backups_on_the_backup_host(lab_)

    # db1's binary logs reach back to the backups: db1 serves them from the backups' position.
    first, listed = earliest_binlog(lab_)
    assert first == "mysql-bin.000001" and backup.binlogs_reach(pos["directory"], listed)
    served = binlog_from(lab_, pos["directory"])
    assert served.returncode == 0, served.stderr

    # What lab up recorded and prints is what the hosts hold; the inventories seed from each.
    taken = backup.Backups.load(lab.LABDIR)
    assert taken is not None and (taken.directory_gtid, taken.dump_gtid, taken.db1_gtid) == (
        pos["directory"], pos["dump"], pos["db1"])
    for name, path in backup.EXISTING_INVENTORIES.items():
        inv = load_inventory(lab.LABDIR / name)
        assert inv.migration.backup_method == SeedMethod.EXISTING
        assert inv.backup is not None and (inv.backup.host, inv.backup.path) == ("backup", path)
        assert inv.hosts["backup"].address == lab_.topo.host_address("backup")

    status = subprocess.run([WIZARD, "lab", "status"], capture_output=True, text=True,
                            timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr
    assert NIGHTLY.describe() in status.stdout and f"GTID {pos['directory']}" in status.stdout
    assert any(line.split()[:1] == ["backup"] and "backups:up" in line
               for line in status.stdout.splitlines()), status.stdout

    # A repairing `lab up` keeps the backups and makes no new writes (only its own
    # re-granting of Moodle's user: a few transactions).
    out = io.StringIO()
    lab.up(None, SHAPE_DATA_MB, proxysql_bin(), out=out, shape=NIGHTLY)
    again = positions(lab_)
    assert (again["directory"], again["dump"]) == (pos["directory"], pos["dump"])
    assert 0 <= seq(again["db1"]) - seq(pos["db1"]) < 10, (pos, again)
    assert "backups on backup (nightly)" in out.getvalue()
    assert str(lab.LABDIR / "inventory-existing.toml") in out.getvalue()


def test_purged_binlogs_no_longer_reach_the_backups() -> None:
    lab_ = build(PURGED)
    pos = check_backups_on_the_backup_host(lab_)

    # One binary log left, begun after Moodle's writes: the backups' position is gone.
    logs = [row[0] for row in sql(lab_, "SHOW BINARY LOGS")]
    first, listed = earliest_binlog(lab_)
    assert logs == [first] and first != "mysql-bin.000001"
    assert listed == pos["db1"], (listed, pos)
    for kind in ("directory", "dump"):
        assert not backup.binlogs_reach(pos[kind], listed)
    # And db1 itself refuses a replica that would start there (error 1236).
    refused = binlog_from(lab_, pos["directory"])
    assert refused.returncode != 0
    assert "1236" in refused.stderr or "Could not find GTID" in refused.stderr, refused.stderr
