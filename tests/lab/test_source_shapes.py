"""Issue 12 items 4 and 5: sources that are not the lab's default, migrated headless and rolled
back, everything checked from the hosts themselves.

(a) db1 on port 3307 (`lab up --db-port 3307`): the replicas listen on 3307 too, ProxySQL's
    servers carry it, Moodle reaches db1 through the VIP, health is all green, and the
    rollback leaves every host byte for byte as it was (config.php's `'dbport' => 3307` too).
(b) db1 already replicating: its binary log on (as bench/ sets it) and db3 a replica of it
    that the operator made and the inventory does not name. The wizard does not restart db1,
    never touches db3 (its replication runs throughout), gives db2 a server_id of its own,
    and the rollback leaves db1 and db3 as they were.

Small data (5 MB): the shapes matter here. The module leaves the default lab up (50 MB, as the
other lab tests' fixture builds it), whatever shape it found.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from moodle_wizard.lab.host import exec_argv
from moodle_wizard.lab.topology import Shape
from tests.lab.conftest import Lab
from tests.lab.shapes import build, restore_default_lab, wait_for
from tests.lab.test_migration_cluster import cluster_snapshot, healthy
from tests.lab.wizard import (
    ALLOW_RESTART,
    Wizard,
    replica_snapshot,
    replica_status,
    source_snapshot,
    sql,
)

# Two rebuilds and two migrations, some 5 minutes: `make test-lab-shapes`, not `make test`.
pytestmark = pytest.mark.lab_shapes

PORT_3307 = Shape(db_port=3307)
CONFIG = "/var/www/moodle/config.php"
VIP = "10.77.0.100"


@pytest.fixture(scope="module", autouse=True)
def default_lab_afterwards() -> Iterator[None]:
    yield
    restore_default_lab()





def run_ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout


# -- (a) a source on port 3307 ------------------------------------------------------------------

def test_a_source_on_port_3307_migrates_and_rolls_back() -> None:
    lab_ = build(PORT_3307)
    topo = lab_.topo
    db1, db2, db3 = (topo.host_address(h) for h in ("db1", "db2", "db3"))
    assert sql(lab_, "db1", "SELECT @@port") == [["3307"]]
    assert "'dbport' => 3307," in lab_.exec("app", "cat", CONFIG).stdout
    before = cluster_snapshot(lab_)
    config_before = lab_.exec("app", "cat", CONFIG).stdout
    with Wizard(lab_) as wizard:
        inventory = wizard.inventory("port-3307", **ALLOW_RESTART)
        plan = run_ok(wizard("plan", "--inventory", inventory))
        # The plan says where each server listens: the replicas on the source's port, and
        # ProxySQL's servers each with its own.
        assert plan.count("port = 3307") == 2, plan
        for hg, address in ((10, db1), (20, db2), (20, db3)):
            assert f"VALUES ({hg}, '{address}', 3307," in plan, (hg, address)
        assert "', 3306," not in plan

        run_ok(wizard("run", "--inventory", inventory, "--yes"))
        for replica in ("db2", "db3"):
            assert sql(lab_, replica, "SELECT @@port") == [["3307"]], replica
            status = replica_status(lab_, replica)
            assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
            assert (status["Master_Host"], status["Master_Port"]) == (db1, "3307"), status
        # Moodle through the VIP and ProxySQL reaches db1, the writer, to write.
        probe = json.loads(lab_.exec("app", "moodle-probe").stdout)
        assert probe["host"] == "db1" and probe["via"] == f"{VIP}:6033", probe
        assert "'dbport' => 6033," in lab_.exec("app", "cat", CONFIG).stdout
        items = healthy(wizard)
        servers = [i for i in items.values() if i["name"].endswith(" servers")]
        assert len(servers) == 2 and all("db2 ONLINE" in i["detail"] and "db3 ONLINE"
                                         in i["detail"] for i in servers), servers

        run_ok(wizard("rollback", "--yes"))
    assert lab_.exec("app", "cat", CONFIG).stdout == config_before
    after = cluster_snapshot(lab_)
    # moodle-probe wrote its row through the VIP: the only change, Moodle's own data.
    for snap in (before, after):
        snap["db1"]["checksums"].pop("moodle.mdl_mwlab_probe")
    assert after == before
    probe = json.loads(lab_.exec("app", "moodle-probe").stdout)
    assert probe["host"] == "db1" and probe["via"] == f"{db1}:3307", probe


# -- (b) a source that already replicates -------------------------------------------------------

BINLOG_CNF = "/etc/mysql/mariadb.conf.d/95-mwtest-binlog.cnf"
# db3's existing replica: a server of its own under db3's private /root (nothing of it is in
# /var/lib/mysql or /etc/mysql, so removing the directory puts db3 back as the lab made it).
FAKE = "/root/mwtest-existing-replica"
FAKE_SOCK = f"{FAKE}/sock"
FAKE_ID = "3"
REPL_USER = "mwtest_existing"
STATUS_KEYS = ("Master_Host", "Master_Port", "Master_User", "Using_Gtid", "Slave_IO_Running",
               "Slave_SQL_Running", "Last_IO_Errno", "Last_SQL_Errno", "Last_IO_Error",
               "Last_SQL_Error")


def fake_sql(lab_: Lab, query: str) -> list[list[str]]:
    out = lab_.exec("db3", "mariadb", "--no-defaults", "-S", FAKE_SOCK, "-N", "-B", "-e",
                    query).stdout
    return [line.split("\t") for line in out.splitlines()]


def fake_replication(lab_: Lab) -> dict[str, str]:
    """db3's existing replica as the operator set it up: the server, its id and its
    replication (threads, errors, source)."""
    out = lab_.exec("db3", "mariadb", "--no-defaults", "-S", FAKE_SOCK, "-e",
                    "SHOW SLAVE STATUS\\G").stdout
    status = {}
    for line in out.splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep and key in STATUS_KEYS:
            status[key] = value
    return {"pid": lab_.exec("db3", "cat", f"{FAKE}/pid").stdout.strip(),
            "server_id": fake_sql(lab_, "SELECT @@server_id")[0][0], **status}


def fake_snapshot(lab_: Lab) -> dict[str, Any]:
    """Also what it holds, once it has applied everything db1 wrote."""
    wait_for("db3's replica to catch up with db1", lambda: fake_sql(
        lab_, "SELECT @@gtid_slave_pos") == sql(lab_, "db1", "SELECT @@gtid_binlog_pos"),
        timeout=60)
    return {**fake_replication(lab_),
            "users": sorted(map(tuple, fake_sql(lab_, "SELECT user, host FROM mysql.user"))),
            "databases": fake_sql(lab_, "SHOW DATABASES")}


def db1_server(lab_: Lab) -> tuple[str, int]:
    pid = lab_.exec("db1", "sh", "-c", "pidof mariadbd || true").stdout.strip()
    uptime = int(sql(lab_, "db1", "SHOW GLOBAL STATUS LIKE 'Uptime'")[0][1])
    return pid, uptime


def restart_db1(lab_: Lab) -> None:
    lab_.exec("db1", "service", "mariadb", "restart")
    wait_for("db1 answering", lambda: lab_.exec("db1", "mariadb", "-e", "SELECT 1",
                                                check=False).returncode == 0, timeout=60)


def pipe(lab_: Lab, source: tuple[str, list[str]], target: tuple[str, list[str]]) -> bytes:
    """One host's command's output into another's (as bytes: a dump is not text)."""
    out = subprocess.run(exec_argv(lab_.pid(source[0]), source[1]), capture_output=True,
                         timeout=300, check=True).stdout
    subprocess.run(exec_argv(lab_.pid(target[0]), target[1]), input=out, capture_output=True,
                   timeout=300, check=True)
    return out


@pytest.fixture()
def replicating_source() -> Iterator[Lab]:
    """The default lab's db1 with its binary log on (ROW, log_slave_updates, server_id 1, as
    bench/writes.py's BinlogOn), and db3 running a replica of it seeded from a dump, server_id
    3, by GTID, with a replication user of its own. Taken down again afterwards, and db1 and
    db3 checked to be as the lab made them."""
    lab_ = build(Shape())
    db1, db3 = lab_.topo.host_address("db1"), lab_.topo.host_address("db3")
    original = source_snapshot(lab_), replica_snapshot(lab_, "db3")
    made_logdir = lab_.exec("db1", "test", "-d", "/var/log/mysql", check=False).returncode != 0
    lab_.exec("db1", "sh", "-c", f"cat > {BINLOG_CNF}", input=(
        b"[mariadb]\nlog_bin = /var/log/mysql/mariadb-bin\nbinlog_format = ROW\n"
        b"log_slave_updates = ON\nserver_id = 1\n"))
    try:
        lab_.exec("db1", "install", "-d", "-o", "mysql", "-g", "mysql", "/var/log/mysql")
        restart_db1(lab_)
        assert sql(lab_, "db1", "SELECT @@log_bin, @@binlog_format") == [["1", "ROW"]]
        lab_.exec("db1", "mariadb", "-e", f"CREATE USER {REPL_USER}@'{db3}' IDENTIFIED BY "
                  f"'mwtest-existing'; GRANT REPLICATION SLAVE ON *.* TO {REPL_USER}@'{db3}'")
        lab_.exec("db3", "sh", "-c", f"mkdir -m 700 {FAKE} && mariadb-install-db --no-defaults "
                  f"--user=root --datadir={FAKE}/data >/dev/null")
        lab_.exec("db3", "sh", "-c", f"setsid /usr/sbin/mariadbd --no-defaults --user=root "
                  f"--datadir={FAKE}/data --socket={FAKE_SOCK} --port=3306 "
                  f"--bind-address={db3} --pid-file={FAKE}/pid --server-id={FAKE_ID} "
                  "--innodb-buffer-pool-size=16M --skip-name-resolve "
                  f"</dev/null >{FAKE}/log 2>&1 &")
        wait_for("db3's replica server", lambda: lab_.exec(
            "db3", "mariadb", "--no-defaults", "-S", FAKE_SOCK, "-e", "SELECT 1",
            check=False).returncode == 0, timeout=60)
        dump = pipe(lab_, ("db1", ["mariadb-dump", "--single-transaction", "--gtid",
                                   "--master-data=2", "--databases", "moodle"]),
                    ("db3", ["mariadb", "--no-defaults", "-S", FAKE_SOCK]))
        gtid = re.search(rb"gtid_slave_pos='([^']*)'", dump)
        assert gtid is not None, dump[:2000]
        fake_sql(lab_, f"SET GLOBAL gtid_slave_pos='{gtid.group(1).decode()}'; "
                 f"CHANGE MASTER TO MASTER_HOST='{db1}', MASTER_PORT=3306, "
                 f"MASTER_USER='{REPL_USER}', MASTER_PASSWORD='mwtest-existing', "
                 "MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos; START SLAVE")
        wait_for("db3 replicating from db1", lambda: (
            (s := fake_replication(lab_))["Slave_IO_Running"], s["Slave_SQL_Running"])
            == ("Yes", "Yes"), timeout=60)
        wait_for("db1 to list db3 as its replica", lambda: [FAKE_ID] in [
            r[:1] for r in sql(lab_, "db1", "SHOW SLAVE HOSTS")], timeout=60)
        yield lab_
    finally:
        pid = lab_.exec("db3", "sh", "-c", f"cat {FAKE}/pid 2>/dev/null || true").stdout.strip()
        if pid:
            lab_.exec("db3", "kill", pid)
            wait_for("db3's replica server to stop", lambda: lab_.exec(
                "db3", "sh", "-c", f"kill -0 {pid} 2>/dev/null && ! grep -q '^State:.*Z' "
                f"/proc/{pid}/status", check=False).returncode != 0, timeout=60)
        lab_.exec("db3", "rm", "-rf", FAKE)
        lab_.exec("db1", "mariadb", "-e", f"DROP USER IF EXISTS {REPL_USER}@'{db3}'")
        lab_.exec("db1", "rm", "-f", BINLOG_CNF)
        restart_db1(lab_)
        lab_.exec("db1", "sh", "-c", "rm -f /var/log/mysql/mariadb-bin.*")
        if made_logdir:
            lab_.exec("db1", "rmdir", "/var/log/mysql")
    after = source_snapshot(lab_), replica_snapshot(lab_, "db3")
    # moodle-probe's rows through the VIP stay: Moodle's own data, not the setup's.
    for snap in (original[0], after[0]):
        snap["checksums"].pop("moodle.mdl_mwlab_probe")
    for was, now in zip(original, after, strict=True):
        assert {k: v for k, v in now.items() if v != was[k]} == {
            k: v for k, v in was.items() if v != now[k]}


def test_a_source_that_already_replicates_keeps_its_replica(replicating_source: Lab) -> None:
    lab_ = replicating_source
    db3_block = (f'[hosts.db3]\naddress = "{lab_.topo.host_address("db3")}"\nrole = "replica"\n'
                 'ssh_user = "root"\nssh_port = 22\n')
    db1_before, fake_before = source_snapshot(lab_), fake_snapshot(lab_)
    pid, uptime = db1_server(lab_)
    started = time.monotonic()
    with Wizard(lab_) as wizard:
        # The lab's own inventory (source_restart = "ask": --yes would refuse a restart),
        # without db3: the operator's replica is not the wizard's.
        inventory = wizard.inventory("replicating", **{db3_block: ""})
        assert "db3" not in lab_.exec("jump", "cat", inventory).stdout
        plan = run_ok(wizard("plan", "--inventory", inventory))
        assert "keep log_bin ON with its basename /var/log/mysql/mariadb-bin" in plan

        # db3's replication is watched while the migration runs: the same server, id and
        # source, both threads running, no error, at every look.
        proc = wizard.spawn("run", "--inventory", inventory, "--yes")
        looks, unlike = 0, []
        while True:
            try:
                proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                now = fake_replication(lab_)
                looks += 1
                if now != {k: v for k, v in fake_before.items() if k in now}:
                    unlike.append(now)
        output = proc.communicate()[0]
        assert proc.returncode == 0, output[-4000:]
        assert looks >= 5 and not unlike, (looks, unlike[:3])

        assert db1_server(lab_)[0] == pid, "db1 was restarted"
        db2_id = sql(lab_, "db2", "SELECT @@server_id")[0][0]
        assert db2_id not in ("1", FAKE_ID)
        facts = wizard.state()["steps"]["discover"]["facts"]["source"]
        assert [r["server_id"] for r in facts["existing_replicas"]] == [int(FAKE_ID)]
        status = replica_status(lab_, "db2")
        assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
        # db1 keeps both replicas connected (one server_id for two would drop one, over and
        # over), and Moodle works through the VIP.
        wait_for("db1 to list both replicas", lambda: sorted(
            r[0] for r in sql(lab_, "db1", "SHOW SLAVE HOSTS")) == sorted([FAKE_ID, db2_id]),
            timeout=60)
        healthy(wizard)
        probe = json.loads(lab_.exec("app", "moodle-probe").stdout)
        assert probe["host"] == "db1" and probe["via"] == f"{VIP}:6033", probe
        # ... which db3 applied too.
        assert fake_snapshot(lab_)["Slave_SQL_Running"] == "Yes"

        run_ok(wizard("rollback", "--yes"))
    elapsed = time.monotonic() - started
    after_pid, after_uptime = db1_server(lab_)
    assert after_pid == pid and after_uptime >= uptime + int(elapsed) - 1, "db1 was restarted"
    db1_after = source_snapshot(lab_)
    # moodle-probe wrote its row through the VIP: the only change, Moodle's own data.
    for snap in (db1_before, db1_after):
        snap["checksums"].pop("moodle.mdl_mwlab_probe")
    assert db1_after == db1_before
    assert fake_snapshot(lab_) == fake_before
