"""Issue 10 items 4 and 5 on the lab: db1's own binary-log setup (basename, retention) is
kept, only what replication needs changes and the plan says so; the source's existing
replicas keep their server_ids; `run --yes` never restarts db1 unless the inventory allows it.

db1 is changed by hand for these cases (its binary log on, a replica of its own on db3) and
put back exactly as it was afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.conftest import Lab
from tests.lab.shapes import wait_for
from tests.lab.test_bad_input_replicas import refused
from tests.lab.wizard import ALLOW_RESTART, CLASSIC, Wizard, source_snapshot, sql

TEST_CNF = "/etc/mysql/mariadb.conf.d/70-mwtest-binlog.cnf"
BINLOG_DIR = "/var/lib/mwtest-binlog"
BASENAME = f"{BINLOG_DIR}/db1-custom-bin"
THIRTY_DAYS = str(30 * 86400)
# A replica of db1 that the inventory does not know: its own server in db3's private /root,
# with the server_id the wizard used to give the first replica.
FAKE = "/root/mwtest-replica"
FAKE_ID = "2"


def db1_pid(lab: Lab) -> str:
    return lab.exec("db1", "sh", "-c", "pidof mariadbd || true").stdout.strip()


def binlog_vars(lab: Lab) -> list[str]:
    return sql(lab, "db1", "SELECT @@log_bin, IFNULL(@@log_bin_basename, ''), "
                           "@@binlog_expire_logs_seconds, @@binlog_format, @@log_slave_updates")[0]


def next_start_options(lab: Lab) -> dict[str, str]:
    """What db1 reads at its next start (the last value of each option wins)."""
    out = lab.exec("db1", "my_print_defaults", "--mysqld").stdout
    options: dict[str, str] = {}
    for line in out.splitlines():
        name, _, value = line.removeprefix("--").partition("=")
        options[name.replace("-", "_")] = value
    return options


def log_dir_kind(lab: Lab) -> str:
    """/var/log/mysql's type, owner and mode, or that it is absent (its mtime changes with
    the binary logs written and removed in it)."""
    return lab.exec("db1", "sh", "-c", "stat -c '%F %U:%G %a' /var/log/mysql 2>/dev/null || "
                    "echo absent").stdout


def restart_db1(lab: Lab) -> None:
    lab.exec("db1", "service", "mariadb", "restart")
    wait_for("db1 answering", lambda: lab.exec("db1", "mariadb", "-e", "SELECT 1",
                                               check=False).returncode == 0)


@pytest.fixture()
def wizard(running_lab: Lab) -> Iterator[Wizard]:
    """Asked for after the fixtures that change db1, so its rollback runs before they restore
    db1."""
    with Wizard(running_lab) as w:
        yield w
        # A case that failed half-way must not leave a migrated lab behind.
        if running_lab.exec("jump", "test", "-e", f"{w.state_dir}/mwlab.json",
                            check=False).returncode == 0:
            w("rollback", "--yes")


@pytest.fixture()
def db1_binlog_on(running_lab: Lab, request: pytest.FixtureRequest) -> Iterator[None]:
    """db1 with its binary log on as an operator set it: a custom basename, 30 days'
    retention, MIXED format (log_slave_updates as the test's parameter says)."""
    lab = running_lab
    original, original_vars = source_snapshot(lab), binlog_vars(lab)
    updates = getattr(request, "param", "OFF")
    lab.exec("db1", "install", "-d", "-o", "mysql", "-g", "mysql", BINLOG_DIR)
    lab.exec("db1", "sh", "-c", f"cat > {TEST_CNF}", input=(
        "[mysqld]\n"
        f"log_bin = {BASENAME}\n"
        "expire_logs_days = 30\n"
        "binlog_format = MIXED\n"
        f"log_slave_updates = {updates}\n").encode())
    try:
        restart_db1(lab)
        assert binlog_vars(lab) == ["1", BASENAME, THIRTY_DAYS, "MIXED",
                                    "1" if updates == "ON" else "0"]
        yield
    finally:
        lab.exec("db1", "rm", "-f", TEST_CNF)
        restart_db1(lab)
        lab.exec("db1", "rm", "-rf", BINLOG_DIR)
        assert source_snapshot(lab) == original
        assert binlog_vars(lab) == original_vars


@pytest.mark.parametrize("db1_binlog_on", ["OFF", "ON"], indirect=True,
                         ids=["restart", "no-restart"])
def test_binlog_already_on_is_kept_and_only_the_format_changes(
        running_lab: Lab, db1_binlog_on: None, wizard: Wizard) -> None:
    lab = running_lab
    inventory = wizard.inventory("binlog-on", **ALLOW_RESTART, **CLASSIC)
    before = source_snapshot(lab)
    before_vars = binlog_vars(lab)

    plan = wizard("plan", "--inventory", inventory)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"keep log_bin ON with its basename {BASENAME}" in plan.stdout
    assert f"keep binlog_expire_logs_seconds = {THIRTY_DAYS} (30 days" in plan.stdout
    assert "change binlog_format from MIXED to ROW because" in plan.stdout

    run = wizard("run", "--inventory", inventory, "--until", "prepare-source", "--yes")
    assert run.returncode == 0, run.stdout + run.stderr
    assert binlog_vars(lab) == ["1", BASENAME, THIRTY_DAYS, "ROW", "1"]
    # ... and at db1's next start too: the wizard's file overrides neither.
    options = next_start_options(lab)
    assert options["log_bin"] == BASENAME
    assert options.get("binlog_expire_logs_seconds", THIRTY_DAYS) == THIRTY_DAYS
    assert options["expire_logs_days"] == "30"
    assert options["binlog_format"] == "ROW"

    back = wizard("rollback", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    assert binlog_vars(lab) == before_vars
    assert source_snapshot(lab) == before


# -- existing replicas of the source --------------------------------------------------------------

@pytest.fixture()
def fake_replica(running_lab: Lab, db1_binlog_on: None) -> Iterator[None]:
    """A real MariaDB replica of db1 on db3 (port 3307, server_id 2) that applies nothing
    and reconnects within a second after db1 restarts."""
    lab = running_lab
    lab.exec("db1", "mariadb", "-e", "CREATE USER mwtest_repl@'10.77.0.13' IDENTIFIED BY "
             "'mwtest-repl'; GRANT REPLICATION SLAVE ON *.* TO mwtest_repl@'10.77.0.13'")
    sock = f"{FAKE}/sock"
    try:
        lab.exec("db3", "sh", "-c", f"mkdir {FAKE} && mariadb-install-db --no-defaults "
                 f"--user=root --datadir={FAKE}/data >/dev/null")
        lab.exec("db3", "sh", "-c", f"setsid /usr/sbin/mariadbd --no-defaults --user=root "
                 f"--datadir={FAKE}/data --socket={sock} --port=3307 "
                 f"--bind-address=10.77.0.13 --pid-file={FAKE}/pid --server-id={FAKE_ID} "
                 "--innodb-buffer-pool-size=16M --skip-name-resolve "
                 "--replicate-wild-do-table=mwtest_nothing.% "
                 f"</dev/null >{FAKE}/log 2>&1 &")
        wait_for("the fake replica's server", lambda: lab.exec(
            "db3", "mariadb", "--no-defaults", "-S", sock, "-e", "SELECT 1",
            check=False).returncode == 0)
        lab.exec("db3", "mariadb", "--no-defaults", "-S", sock, "-e",
                 "CHANGE MASTER TO MASTER_HOST='10.77.0.11', MASTER_PORT=3306, "
                 "MASTER_USER='mwtest_repl', MASTER_PASSWORD='mwtest-repl', "
                 "MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos; START SLAVE")
        wait_for("db1 to list its replica", lambda: [FAKE_ID] in [
            r[:1] for r in sql(lab, "db1", "SHOW SLAVE HOSTS")])
        yield
    finally:
        pid = lab.exec("db3", "sh", "-c", f"cat {FAKE}/pid 2>/dev/null || true").stdout.strip()
        if pid:
            lab.exec("db3", "kill", pid)
            wait_for("the fake replica to stop", lambda: lab.exec(
                "db3", "sh", "-c", f"kill -0 {pid} 2>/dev/null && ! grep -q '^State:.*Z' "
                f"/proc/{pid}/status", check=False).returncode != 0)
        lab.exec("db3", "rm", "-rf", FAKE)
        lab.exec("db1", "mariadb", "-e", "DROP USER IF EXISTS mwtest_repl@'10.77.0.13'")


def fake_io_running(lab: Lab) -> bool:
    out = lab.exec("db3", "mariadb", "--no-defaults", "-S", f"{FAKE}/sock", "-e",
                   "SHOW SLAVE STATUS\\G").stdout
    return "Slave_IO_Running: Yes" in out


def only_db2(wizard: Wizard, name: str, **more: str) -> str:
    db3 = ('[hosts.db3]\naddress = "10.77.0.13"\nrole = "replica"\nssh_user = "root"\n'
           'ssh_port = 22\n')
    return wizard.inventory(name, **ALLOW_RESTART, **{db3: ""}, **more)


def test_an_existing_replica_keeps_its_server_id(running_lab: Lab, fake_replica: None,
                                                 wizard: Wizard) -> None:
    lab = running_lab
    inventory = only_db2(wizard, "existing-replica")
    before = source_snapshot(lab)
    run = wizard("run", "--inventory", inventory, "--until", "replicas", "--yes")
    assert run.returncode == 0, run.stdout + run.stderr
    facts: dict[str, Any] = wizard.state()["steps"]["discover"]["facts"]["source"]
    assert [r["server_id"] for r in facts["existing_replicas"]] == [int(FAKE_ID)]
    assert [t["host"].split(":")[0] for t in facts["binlog_dump_threads"]] == ["10.77.0.13"]
    db2_id = sql(lab, "db2", "SELECT @@server_id")[0][0]
    assert db2_id not in (FAKE_ID, "1")
    # Both replicas stay connected: with one server_id the source would drop one for the other.
    seen: list[list[str]] = []

    def both_listed() -> bool:
        seen[:] = sql(lab, "db1", "SHOW SLAVE HOSTS")
        return sorted(r[0] for r in seen) == sorted([FAKE_ID, db2_id])

    try:
        wait_for("db1 to list both replicas", both_listed)
    except AssertionError:
        raise AssertionError(f"db1 lists {seen}; db2 has server_id {db2_id}; db3: "
                             + lab.exec("db3", "mariadb", "--no-defaults", "-S",
                                        f"{FAKE}/sock", "-e", "SHOW SLAVE STATUS\\G").stdout
                             ) from None
    assert fake_io_running(lab)
    back = wizard("rollback", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    assert source_snapshot(lab) == before


def test_an_inventory_server_id_of_an_existing_replica_is_refused(
        running_lab: Lab, fake_replica: None, wizard: Wizard) -> None:
    inventory = only_db2(wizard, "taken-id", **{
        'address = "10.77.0.12"': f'address = "10.77.0.12"\nserver_id = {FAKE_ID}'})
    out = refused(running_lab, wizard, inventory, f"db2: server_id {FAKE_ID} is already used "
                  "by a replica of db1")
    assert "give db2 another server_id in the inventory" in out


# -- the source restart is the operator's call ---------------------------------------------------

def test_yes_does_not_restart_the_source_unless_the_inventory_allows_it(
        running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    pid = db1_pid(lab)
    for name, line in (("no-setting", ""), ("ask", 'source_restart = "ask"')):
        inventory = wizard.inventory(name, **{'source_restart = "ask"': line})
        out = refused(lab, wizard, inventory, 'source_restart = "allow"')
        assert "refused: --yes does not answer this question" in out
        assert db1_pid(lab) == pid  # not restarted

    before = source_snapshot(lab)
    log_dir = log_dir_kind(lab)
    allowed = wizard.inventory("allow", **ALLOW_RESTART, **CLASSIC)
    run = wizard("run", "--inventory", allowed, "--until", "prepare-source", "--yes")
    assert run.returncode == 0, run.stdout + run.stderr
    assert db1_pid(lab) != pid
    assert sql(lab, "db1", "SELECT @@log_bin")[0] == ["1"]
    back = wizard("rollback", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    assert source_snapshot(lab) == before
    # The binary log's directory, if the wizard made it, goes too (an existing one stays).
    assert log_dir_kind(lab) == log_dir
