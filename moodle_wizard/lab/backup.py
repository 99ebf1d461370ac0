"""`lab up --backup nightly|purged`: a school that takes nightly backups of its Moodle database.

db1 has its binary log on (point-in-time recovery from a nightly backup needs it), and the
backup host holds what last night's job left there, both taken from db1:
- a mariadb-backup target directory, not prepared: `mariadb-backup --backup` on db1 streamed
  (xbstream) to the backup host and unpacked there with mbstream, as a job that pulls the
  backup from the database server does;
- `mariadb-dump --single-transaction --gtid --master-data=2 --databases moodle`, gzipped.
Then Moodle kept writing (WRITES transactions through db1), so both are behind db1's
@@gtid_binlog_pos: a replica seeded from them has real catching up to do from the binary log.
purged: then db1's binary logs are rotated and purged past the backups' position (a short
retention, or an admin freeing the disk): a seed from those backups can never catch up and
must be refused.

The backups live under /var/backups, Debian's place for them, which is the host's own (an
overlay); /srv is not: it is the machine's, seen by every host, and holds the lab itself.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from moodle_wizard.core.sql.gtid import has_applied, parse_position
from moodle_wizard.lab import replicas
from moodle_wizard.lab.host import exec_argv, host_run
from moodle_wizard.lab.inventory_file import inventory_text
from moodle_wizard.lab.moodle_data import DataPlan
from moodle_wizard.lab.shell import write_file
from moodle_wizard.lab.system import LabError, wait_until
from moodle_wizard.lab.topology import BACKUP, Topology

BACKUP_ROOT = "/var/backups/moodle"
NIGHTLY_DIR = f"{BACKUP_ROOT}/nightly"
NIGHTLY_DUMP = f"{BACKUP_ROOT}/nightly.sql.gz"
# What the wizard's inventory points at for each kind (lab up writes both files).
EXISTING_INVENTORIES = {"inventory-existing.toml": NIGHTLY_DIR,
                        "inventory-existing-dump.toml": NIGHTLY_DUMP}
RECORD = "backups.json"  # in the lab's directory: what was taken, for the summary and status
# Moodle's writes after the backups: enough that catching up is real work for a replica.
WRITES = 3000
BINLOG_DIR = "/var/log/mysql"
# As a school turns it on in Debian's 50-server.cnf (its commented-out lines), for
# point-in-time recovery: the binary log beside the error log, kept ten days.
BINLOG_CNF = (
    "# mwlab: the binary log on, for point-in-time recovery from the nightly backups\n"
    "[mysqld]\n"
    "server_id = 1\n"
    f"log_bin = {BINLOG_DIR}/mysql-bin.log\n"
    "binlog_format = ROW\n"
    "expire_logs_days = 10\n"
)
DB1_BINLOG_CNF_PATH = "/etc/mysql/mariadb.conf.d/55-mwlab-binlog.cnf"
BACKUP_PACKAGES = ("mariadb-backup", "mariadb-client")


def db1_binlog_script() -> str:
    """db1's binary log on, before its server first starts (db1_script starts it)."""
    return (
        f"install -d -o mysql -g adm -m 2750 {BINLOG_DIR}\n"
        + write_file(DB1_BINLOG_CNF_PATH, BINLOG_CNF)
    )


def host_script(labdir: Path) -> str:
    """The backup host: the server packages purged (replicas.bare_script: its own /usr, the
    lab's apt repository), then the backup tool and the client installed from that repository,
    as an admin sets up a backup host: no MariaDB server on it."""
    marker = "/etc/.mwlab-backup-host"
    packages = " ".join(BACKUP_PACKAGES)
    return (
        replicas.bare_script(labdir)
        + f"if [ ! -e {marker} ]; then\n"
        f"  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
        f"{packages} </dev/null >/var/log/mwlab-backup-install.log 2>&1; then\n"
        "    cat /var/log/mwlab-backup-install.log >&2; exit 1\n"
        "  fi\n"
        f"  touch {marker}\n"
        "fi\n"
        f"install -d -m 0700 {BACKUP_ROOT}\n"
    )


def writes_sql(plan: DataPlan, transactions: int, now: int) -> str:
    """Moodle's traffic after the nightly backups, one transaction per page request: a log
    row, the user's last access, now and then the session, a grade, a new activity; ten a
    second up to `now`. Only rows without unique keys are inserted, so a rerun cannot
    collide."""
    out = ["USE `moodle`;"]
    for i in range(1, transactions + 1):
        user = 1 + (i * 7919) % plan.users
        course = 1 + i % plan.courses
        at = now - (transactions - i) // 10
        stmts = [
            "INSERT INTO mdl_logstore_standard_log (eventname, component, action, target, crud,"
            " edulevel, contextid, contextlevel, contextinstanceid, userid, courseid, anonymous,"
            f" timecreated, origin, ip) VALUES ('\\\\core\\\\event\\\\course_viewed', 'core',"
            f" 'viewed', 'course', 'r', 2, {course}, 50, {course}, {user}, {course}, 0, {at},"
            f" 'web', '10.2.{i % 250}.{i % 200}');",
            f"UPDATE mdl_user SET lastaccess = {at}, lastip = '10.2.{i % 250}.{i % 200}' "
            f"WHERE id = {user};",
        ]
        if i % 3 == 0:
            stmts.append(f"UPDATE mdl_sessions SET timemodified = {at} WHERE userid = {user};")
        if i % 5 == 0:
            stmts.append(f"UPDATE mdl_grade_grades SET finalgrade = {i % 101}, timemodified = "
                         f"{at} WHERE userid = {user} AND itemid = {1 + i % 5};")
        if i % 50 == 0:
            stmts.append("INSERT INTO mdl_course_modules (course, module, instance, section, "
                         f"added, visible) VALUES ({course}, {1 + i % 22}, {i}, 1, {at}, 1);")
        out.append("BEGIN; " + " ".join(stmts) + " COMMIT;")
    return "\n".join(out) + "\n"


def binlog_info_gtid(text: str) -> str:
    """The GTID position in mariadb-backup's xtrabackup_binlog_info (mariadb_backup_binlog_info
    in newer versions): `FILE<TAB>POSITION<TAB>GTID`."""
    fields = text.strip().split("\t")
    if len(fields) < 3 or not fields[2].strip():
        raise LabError(f"mariadb-backup's binlog info has no GTID position ({text.strip()!r}); "
                       "is db1's binary log on?")
    return fields[2].strip()


def dump_gtid(line: str) -> str:
    """The position in a --gtid --master-data=2 dump's `-- SET GLOBAL gtid_slave_pos='...';`."""
    _, sep, rest = line.partition("gtid_slave_pos='")
    if not sep or "'" not in rest:
        raise LabError(f"the dump has no gtid_slave_pos line ({line.strip()!r})")
    return rest.split("'", 1)[0]


def gtid_list(info: str) -> str:
    """A Gtid_list event's Info, `[0-1-21]` (`[]` in the first binary log ever)."""
    return info.strip().removeprefix("[").removesuffix("]").replace(" ", "")


def behind(older: str, newer: str) -> bool:
    """Whether position `older` is strictly behind `newer` (newer has all of older, and more)."""
    old, new = parse_position(older), parse_position(newer)
    return has_applied(new, old) and not has_applied(old, new)


def binlogs_reach(position: str, earliest_list: str) -> bool:
    """Whether binary logs starting after `earliest_list` still hold every transaction after
    `position`: the position has everything that was written before the earliest log."""
    return has_applied(parse_position(position), parse_position(earliest_list))


@dataclass
class Backups:
    """What `lab up --backup` took, as the lab records it (labdir/backups.json)."""

    kind: str
    directory: str
    directory_bytes: int
    dump: str
    dump_bytes: int
    directory_gtid: str
    dump_gtid: str
    db1_gtid: str          # @@gtid_binlog_pos after Moodle's writes (and the purge)
    writes: int
    earliest_binlog: str
    earliest_binlog_gtid: str  # its Gtid_list: what was written before it
    seconds_backups: float
    seconds_writes: float

    def save(self, labdir: Path) -> None:
        (labdir / RECORD).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, labdir: Path) -> Backups | None:
        try:
            return cls(**json.loads((labdir / RECORD).read_text()))
        except (FileNotFoundError, TypeError, ValueError):
            return None  # none yet, or from another version of the lab: taken again


def summary_lines(taken: Backups, inventories: Sequence[Path]) -> list[str]:
    reach = binlogs_reach(taken.directory_gtid, taken.earliest_binlog_gtid)
    return [
        f"  backups on {BACKUP.name} ({taken.kind}), taken before {taken.writes} Moodle "
        f"transactions; db1 now at GTID {taken.db1_gtid}:",
        f"    {taken.directory}  mariadb-backup, not prepared, {_mb(taken.directory_bytes)}, "
        f"GTID {taken.directory_gtid}",
        f"    {taken.dump}  mariadb-dump, gzipped, {_mb(taken.dump_bytes)}, "
        f"GTID {taken.dump_gtid}",
        f"    db1's earliest binary log {taken.earliest_binlog} starts after GTID "
        f"{taken.earliest_binlog_gtid or '(none)'}: "
        + ("it reaches back to the backups" if reach else
           "PURGED past the backups (a seed from them must be refused)"),
        *(f"  inventory seeding from {EXISTING_INVENTORIES[p.name]}: {p}" for p in inventories),
    ]


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def write_inventories(topo: Topology, labdir: Path) -> list[Path]:
    """The lab's inventory with backup_method = "existing", one per backup kind."""
    paths = []
    for name, path in EXISTING_INVENTORIES.items():
        target = labdir / name
        target.write_text(inventory_text(topo, labdir, existing_backup=(BACKUP.name, path)))
        paths.append(target)
    return paths


def present(pid: int) -> bool:
    """Both backups are on the backup host (pid: its PID 1)."""
    return host_run(pid, ["sh", "-c", f"test -f {NIGHTLY_DIR}/xtrabackup_checkpoints && "
                          f"test -s {NIGHTLY_DUMP}"], check=False).returncode == 0


def ensure(topo: Topology, pids: dict[str, int], labdir: Path, data_mb: int) -> Backups:
    """The backups and Moodle's writes since, once: a repairing `lab up` keeps them."""
    recorded = Backups.load(labdir)
    if recorded is not None and recorded.kind == topo.shape.backup and present(pids["backup"]):
        return recorded
    db1, host = pids["db1"], pids["backup"]
    log = labdir / "log" / "backup.log"
    t0 = time.monotonic()
    restart_db1(db1)
    _stream(db1, ["mariadb-backup", "--backup", "--user=root", "--stream=xbstream",
                  "--target-dir=/tmp/mwlab-nightly"],
            host, f"umask 077; rm -rf {NIGHTLY_DIR}.part; mkdir {NIGHTLY_DIR}.part; "
                  f"mbstream -x -C {NIGHTLY_DIR}.part; rm -rf {NIGHTLY_DIR}; "
                  f"mv {NIGHTLY_DIR}.part {NIGHTLY_DIR}", log, "the nightly mariadb-backup")
    _stream(db1, ["mariadb-dump", "--single-transaction", "--gtid", "--master-data=2",
                  "--databases", "moodle"],
            host, f"umask 077; gzip -c > {NIGHTLY_DUMP}.part; mv {NIGHTLY_DUMP}.part "
                  f"{NIGHTLY_DUMP}", log, "the nightly mariadb-dump")
    t1 = time.monotonic()
    sql = writes_sql(DataPlan.for_megabytes(data_mb), WRITES, int(time.time()))
    host_run(db1, ["mariadb"], input=sql.encode(), timeout=900)
    t2 = time.monotonic()
    if topo.shape.backup == "purged":
        purge_binlogs(db1)
    taken = read_backups(topo.shape.backup, db1, host, t1 - t0, t2 - t1)
    _check(taken)
    taken.save(labdir)
    return taken


def restart_db1(db1: int) -> None:
    """Moodle's tables were made and loaded moments ago, so their creation is still in
    InnoDB's redo log after the last checkpoint, and mariadb-backup would copy them as tables
    created during the backup (`.new` files that --prepare renames), unlike the nightly of a
    server that has run for months. A restart checkpoints: the server has been restarted since
    its tables were made (and its binary log rotates, as a restart rotates it)."""
    host_run(db1, ["service", "mariadb", "restart"], timeout=120)
    wait_until(lambda: host_run(db1, ["mariadb-admin", "ping"], check=False).returncode == 0,
               60, "db1's MariaDB to answer after its restart", interval=0.2)


def _stream(src_pid: int, src_argv: list[str], dst_pid: int, dst_script: str, log: Path,
            what: str, timeout: float = 1800) -> None:
    """src_argv on db1 piped into dst_script on the backup host; their messages go to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as err:
        src = subprocess.Popen(exec_argv(src_pid, src_argv), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=err)
        assert src.stdout is not None
        try:
            dst = subprocess.Popen(exec_argv(dst_pid, ["sh", "-euc", dst_script]),
                                   stdin=src.stdout, stdout=err, stderr=err)
        finally:
            src.stdout.close()  # the backup host's end is the only reader left
        try:
            codes = (src.wait(timeout), dst.wait(timeout))
        except subprocess.TimeoutExpired:
            src.kill()
            dst.kill()
            src.wait()
            dst.wait()
            raise LabError(f"{what} took over {timeout:.0f} s; see {log}") from None
    if codes != (0, 0):
        raise LabError(f"{what} failed (exit {codes[0]} on db1, {codes[1]} on "
                       f"{BACKUP.name}); see {log}")


def _sql(pid: int, query: str) -> list[list[str]]:
    out = host_run(pid, ["mariadb", "-N", "-B", "-e", query]).stdout.decode()
    return [line.split("\t") for line in out.splitlines()]


def binlog_names(db1: int) -> list[str]:
    return [row[0] for row in _sql(db1, "SHOW BINARY LOGS")]


def purge_binlogs(db1: int) -> None:
    """Rotate, then purge every binary log but the newest. PURGE keeps a log the binlog
    checkpoint still needs (InnoDB has not yet made its commits durable), so it is repeated
    until only the newest is left."""
    _sql(db1, "FLUSH BINARY LOGS")
    newest = binlog_names(db1)[-1]

    def purged() -> bool:
        _sql(db1, f"PURGE BINARY LOGS TO '{newest}'")
        return binlog_names(db1) == [newest]

    wait_until(purged, 60, f"db1's binary logs before {newest} to be purged", interval=0.5)


def read_backups(kind: str, db1: int, host: int, seconds_backups: float,
                 seconds_writes: float) -> Backups:
    """What is on the backup host and where db1 is now, read from inside the hosts."""
    info = host_run(host, ["sh", "-c", f"cat {NIGHTLY_DIR}/mariadb_backup_binlog_info "
                           f"2>/dev/null || cat {NIGHTLY_DIR}/xtrabackup_binlog_info"])
    header = host_run(host, ["sh", "-c", f"zcat {NIGHTLY_DUMP} | "
                             "grep -m1 '^-- SET GLOBAL gtid_slave_pos='"])
    sizes = host_run(host, ["sh", "-c", f"du -sb {NIGHTLY_DIR} | cut -f1; "
                            f"stat -c %s {NIGHTLY_DUMP}"]).stdout.split()
    earliest = binlog_names(db1)[0]
    events = _sql(db1, f"SHOW BINLOG EVENTS IN '{earliest}' LIMIT 4")
    listed = next((row[5] for row in events if len(row) > 5 and row[2] == "Gtid_list"), "[]")
    return Backups(
        kind=kind, directory=NIGHTLY_DIR, directory_bytes=int(sizes[0]), dump=NIGHTLY_DUMP,
        dump_bytes=int(sizes[1]), directory_gtid=binlog_info_gtid(info.stdout.decode()),
        dump_gtid=dump_gtid(header.stdout.decode()),
        db1_gtid=_sql(db1, "SELECT @@gtid_binlog_pos")[0][0], writes=WRITES,
        earliest_binlog=earliest, earliest_binlog_gtid=gtid_list(listed),
        seconds_backups=round(seconds_backups, 1), seconds_writes=round(seconds_writes, 1))


def _check(taken: Backups) -> None:
    """The lab promises these; a lab that could not keep them is not built."""
    for name, position in (("directory", taken.directory_gtid), ("dump", taken.dump_gtid)):
        if not behind(position, taken.db1_gtid):
            raise LabError(f"the nightly {name}'s GTID {position} is not behind db1's "
                           f"{taken.db1_gtid}; the writes after the backups did not reach the "
                           "binary log")
    reach = binlogs_reach(taken.directory_gtid, taken.earliest_binlog_gtid)
    if reach != (taken.kind == "nightly"):
        raise LabError(f"db1's earliest binary log starts after {taken.earliest_binlog_gtid}: "
                       f"it should {'' if taken.kind == 'nightly' else 'not '}reach back to "
                       f"the backups' {taken.directory_gtid}")
