"""The whole migration against the lab: one `run --yes` from the standalone Moodle database to
replicas, ProxySQL on px1/px2, the VIP and config.php pointing at it; the VIP drill; one
`rollback --yes` back to the original. Everything is checked from the outside: on the hosts,
with the servers' own clients and Moodle's own config (moodle-probe).

The tests share one migration (a module fixture) and run in file order; the fixture rolls back
whatever is left if a test fails half-way, so the lab is left as it was found. The last test
runs a second migration that is killed half-way and resumed.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.lab.conftest import Lab
from tests.lab.shapes import wait_for
from tests.lab.test_migration_replicas import child_of
from tests.lab.wizard import (
    ALLOW_RESTART,
    LAB_INVENTORY,
    Wizard,
    lab_snapshot,
    replica_status,
    sql,
)

PROXIES = ("px1", "px2")
VIP = "10.77.0.100"
CONFIG = "/var/www/moodle/config.php"


# -- what the hosts look like (shared with the bad-input tests) ------------------------------

def processes(lab: Lab, host: str) -> list[str]:
    """Every process on a lab host except its init, sshd and this very command."""
    out = lab.exec(host, "ps", "-eo", "args=").stdout
    return sorted(line for line in out.splitlines()
                  if line.strip() and "hostinit.py" not in line and not line.startswith("sshd")
                  and not line.startswith("ps -eo"))


def px_snapshot(lab: Lab, host: str) -> dict[str, Any]:
    return {
        "processes": processes(lab, host),
        "eth0": lab.exec(host, "ip", "-o", "-4", "addr", "show", "dev", "eth0").stdout,
        "files": lab.exec(host, "sh", "-c", "cd /etc/keepalived && find . -type f | sort | "
                          "xargs md5sum; md5sum /etc/proxysql.cnf; cd /var/lib/proxysql && "
                          "for f in *.db; do [ -e \"$f\" ] && md5sum \"$f\"; done; "
                          "ls -A /var/backups; true").stdout,
    }


def app_snapshot(lab: Lab) -> dict[str, Any]:
    return {
        "owner_mode": lab.exec("app", "stat", "-c", "%U:%G %a", CONFIG).stdout,
        "sha256": lab.exec("app", "sha256sum", CONFIG).stdout,
        "dirs": lab.exec("app", "sh", "-c", "ls -A /var/backups /var/www/moodle").stdout,
        "processes": processes(lab, "app"),
    }


def cluster_snapshot(lab: Lab) -> dict[str, Any]:
    return {**lab_snapshot(lab), **{h: px_snapshot(lab, h) for h in PROXIES},
            "app": app_snapshot(lab)}


def vip_holders(lab: Lab) -> list[str]:
    return [h for h in PROXIES
            if f"inet {VIP}/" in lab.exec(h, "ip", "-o", "-4", "addr", "show", "dev",
                                          "eth0").stdout]


# -- the migration, once ---------------------------------------------------------------------

@dataclass
class Migrated:
    wizard: Wizard
    before: dict[str, Any]
    config_before: str
    run_seconds: float
    output: str
    rolled_back: bool = False
    secrets: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def migrated(running_lab: Lab) -> Iterator[Migrated]:
    lab = running_lab
    with Wizard(lab) as wizard:
        before = cluster_snapshot(lab)
        config_before = lab.exec("app", "cat", CONFIG).stdout
        started = time.monotonic()
        run = wizard("run", "--inventory", wizard.inventory("allow", **ALLOW_RESTART), "--yes")
        seconds = time.monotonic() - started
        print(f"\nfull migration (run --yes): {seconds:.1f} s")
        state = Migrated(wizard, before, config_before, seconds, run.stdout + run.stderr)
        try:
            assert run.returncode == 0, state.output
            state.secrets = json.loads(lab.exec("jump", "cat",
                                                f"{wizard.state_dir}/mwlab.secrets").stdout)
            yield state
        finally:
            if not state.rolled_back:
                back = wizard("rollback", "--yes")
                assert back.returncode == 0, back.stdout + back.stderr


def admin_query(lab: Lab, host: str, password: str, query: str,
                user: str = "mw_admin") -> list[list[str]]:
    """A query on ProxySQL's admin port of `host`, the password on stdin."""
    out = lab.exec(host, "sh", "-c", 'MYSQL_PWD=$(cat) exec mariadb -N -B -r -h 127.0.0.1 '
                   f'-P 6032 -u {user} -e "$0"', query, input=password.encode()).stdout
    return [line.split("\t") for line in out.splitlines()]


def probe(lab: Lab, *args: str) -> dict[str, Any]:
    out = lab.exec("app", "moodle-probe", *args)
    data: dict[str, Any] = json.loads(out.stdout)
    return data


# -- after `run --yes` -------------------------------------------------------------------------

def test_the_run_goes_through_every_step(migrated: Migrated) -> None:
    state = migrated.wizard.state()
    assert {name: s["status"] for name, s in state["steps"].items()} == {
        "discover": "done", "prepare-source": "done", "replicas": "done", "proxysql": "done",
        "vip": "done", "cutover": "done"}
    assert "migration mwlab: all implemented steps done" in migrated.output


def test_db2_and_db3_replicate_from_db1(running_lab: Lab, migrated: Migrated) -> None:
    for host in ("db2", "db3"):
        status = replica_status(running_lab, host)
        assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
        assert status["Master_Host"] == "10.77.0.11"
        assert sql(running_lab, host, "SELECT @@read_only")[0] == ["1"]


def test_proxysql_runs_the_same_config_on_both_nodes(running_lab: Lab,
                                                     migrated: Migrated) -> None:
    lab, password = running_lab, migrated.secrets["proxysql_admin_password"]
    checksums = {h: admin_query(lab, h, password, "SELECT name, checksum FROM "
                                "runtime_checksums_values ORDER BY name") for h in PROXIES}
    assert checksums["px1"] == checksums["px2"]
    assert dict(map(tuple, checksums["px1"]))["mysql_users"] != "0x0000000000000000"
    servers = {h: admin_query(lab, h, password, "SELECT hostgroup_id, hostname, status FROM "
                              "runtime_mysql_servers ORDER BY 1, 2") for h in PROXIES}
    # db1 among the readers too: their fallback when no replica serves (issue 15).
    assert servers["px1"] == servers["px2"] == [
        ["10", "10.77.0.11", "ONLINE"], ["20", "10.77.0.11", "ONLINE"],
        ["20", "10.77.0.12", "ONLINE"], ["20", "10.77.0.13", "ONLINE"]]
    users = admin_query(lab, "px1", password, "SELECT DISTINCT username, default_hostgroup "
                        "FROM runtime_mysql_users ORDER BY 1")
    assert users == [["moodle_ro", "20"], ["moodleuser", "10"]]
    version = admin_query(lab, "px1", password, "SELECT variable_value FROM global_variables "
                          "WHERE variable_name = 'mysql-server_version'")[0][0]
    assert version.startswith("10.11.") and "MariaDB" in version
    # The monitor user logs in (its password has quotes, a backslash, a space and an é).
    errors = admin_query(lab, "px1", password, "SELECT COUNT(*) FROM "
                         "monitor.mysql_server_read_only_log WHERE error IS NULL")
    assert int(errors[0][0]) > 0
    # The package's admin:admin no longer works.
    refused = lab.exec("px1", "mariadb", "-h", "127.0.0.1", "-P", "6032", "-uadmin", "-padmin",
                       "-e", "SELECT 1", check=False)
    assert refused.returncode != 0 and "Access denied" in refused.stderr


def test_exactly_one_proxy_holds_the_vip(running_lab: Lab, migrated: Migrated) -> None:
    assert len(vip_holders(running_lab)) == 1


def test_config_php_points_at_the_vip_and_nothing_else_changed(running_lab: Lab,
                                                               migrated: Migrated) -> None:
    after = running_lab.exec("app", "cat", CONFIG).stdout
    diff = list(difflib.ndiff(migrated.config_before.splitlines(), after.splitlines()))
    removed = [line[2:] for line in diff if line.startswith("- ")]
    added = [line[2:] for line in diff if line.startswith("+ ")]
    assert removed == ["$CFG->dbhost    = '10.77.0.11';", "  'dbport' => '',"]
    assert added[:2] == [f"$CFG->dbhost    = '{VIP}';", "  'dbport' => 6033,"]
    readonly = "\n".join(added[2:])
    assert readonly.startswith("  'readonly' => [")
    assert f"'dbhost' => '{VIP}'" in readonly and "'dbuser' => 'moodle_ro'" in readonly
    # Owner, group and mode are the original's.
    assert app_snapshot(running_lab)["owner_mode"] == migrated.before["app"]["owner_mode"]


def test_moodle_writes_through_the_vip_and_both_replicas_get_the_row(
        running_lab: Lab, migrated: Migrated) -> None:
    lab = running_lab
    written = probe(lab)
    assert written["via"] == f"{VIP}:6033" and written["host"] == "db1"
    for host in ("db2", "db3"):
        wait_for(f"the probe row on {host}", lambda h=host: sql(
            lab, h, "SELECT COUNT(*) FROM moodle.mdl_mwlab_probe WHERE token = '"
            + written["token"] + "'")[0] == ["1"])
    read = probe(lab, "--read-only")
    assert read["via"] == f"{VIP}:6033" and read["host"] in ("db2", "db3")
    assert read["read_only"] == "1"


def health(wizard: Wizard) -> tuple[int, dict[str, dict[str, Any]], float]:
    """`moodle-wizard health --json`: its exit code, its items by name, how long it took."""
    started = time.monotonic()
    out = wizard("health", "--json")
    seconds = time.monotonic() - started
    assert out.returncode in (0, 1), out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert data["healthy"] is (out.returncode == 0)
    return out.returncode, {i["name"]: i for i in data["items"]}, seconds


def failing(items: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: i["detail"] for name, i in items.items() if i["ok"] is not True}


def healthy(wizard: Wizard, timeout: float = 60) -> dict[str, dict[str, Any]]:
    """`health --json`'s items once every one is True. ProxySQL's monitor checks a server
    just loaded (or just restarted) at its next rounds, not at once, so a health run right
    after a migration or an operation may see it unchecked: this waits, with a deadline."""
    last: dict[str, str] = {}

    def every_item_true() -> dict[str, dict[str, Any]] | None:
        code, items, _ = health(wizard)
        last.clear()
        last.update(failing(items))
        return items if code == 0 and not last else None

    try:
        return wait_for("every health item true", every_item_true, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"still failing after {timeout:g} s: {last}") from None


def without_lag_shun(bad: dict[str, str], replica: str) -> dict[str, str]:
    """The failures but those of a lag check that met `replica`'s replication stopped
    (ProxySQL's monitor checks lag every 10 s: it may or may not have yet): the replica out
    of the readers on a node, whose runtime servers then differ from the other's."""
    out = ("out of the readers: replication lag over 30 s or replication stopped")
    lag = {f"{px} servers" for px in PROXIES if f"{replica} {out}" in bad.get(f"{px} servers",
                                                                             "")}
    if lag:
        lag.add("config checksums")
    return {k: v for k, v in bad.items() if k not in lag}


HEALTH_ITEMS = {"db1 primary", "db2 replication", "db3 replication", "px1 servers",
                "px1 monitor", "px2 servers", "px2 monitor", "config checksums", "VIP holder",
                "Moodle's login", "app config.php login"}


def test_health_is_every_item_true_then_names_each_failure_kind(
        running_lab: Lab, migrated: Migrated) -> None:
    """Healthy, then each failure kind named by its item and restored: a stopped SQL thread,
    a stopped IO thread, a writable replica, ProxySQL down on one node."""
    lab, wizard = running_lab, migrated.wizard
    code, items, seconds = health(wizard)
    checks = json.loads(wizard("health", "--json").stdout)["seconds"]
    print(f"\nmoodle-wizard health on the migrated lab: {seconds:.2f} s for the command, "
          f"{checks:.2f} s for the checks")
    assert set(items) == HEALTH_ITEMS
    assert all(i["ok"] is True and i["applicable"] for i in items.values()), items
    assert code == 0
    text = wizard("health")
    assert text.returncode == 0, text.stdout + text.stderr
    assert [line.split()[0] for line in text.stdout.splitlines()[:-1]] == ["OK"] * 11
    assert "migration mwlab: healthy: all 11 applicable checks pass" in text.stdout
    assert "OK   db1 primary: writable, not a replica, binlog at 0-" in text.stdout
    prom = wizard("health", "--prometheus")
    assert prom.returncode == 0, prom.stdout + prom.stderr
    oks = [line for line in prom.stdout.splitlines() if line.startswith("moodle_wizard_health_ok")]
    assert len(oks) == 11 and all(line.endswith("} 1") for line in oks), prom.stdout
    assert 'moodle_wizard_healthy{migration="mwlab"} 1' in prom.stdout.splitlines()

    # A replica whose SQL thread stopped: unhealthy, and that item says why.
    lab.exec("db2", "mariadb", "-e", "STOP SLAVE SQL_THREAD")
    try:
        code, items, _ = health(wizard)
        text = wizard("health")
    finally:
        lab.exec("db2", "mariadb", "-e", "START SLAVE SQL_THREAD")
    assert code == 1
    assert without_lag_shun(failing(items), "db2") == {
        "db2 replication": "SQL thread not running"}
    assert text.returncode == 1
    assert "FAIL db2 replication: SQL thread not running" in text.stdout
    assert "migration mwlab: UNHEALTHY: " in text.stdout
    wait_for("db2's SQL thread running", lambda: replica_status(
        lab, "db2")["Slave_SQL_Running"] == "Yes")
    healthy(wizard)  # a lag check that met the stopped thread: db2 back in the readers

    # A replica whose IO thread stopped.
    lab.exec("db3", "mariadb", "-e", "STOP SLAVE IO_THREAD")
    try:
        code, items, _ = health(wizard)
    finally:
        lab.exec("db3", "mariadb", "-e", "START SLAVE IO_THREAD")
    assert code == 1
    assert without_lag_shun(failing(items), "db3") == {
        "db3 replication": "IO thread not running (No)"}
    wait_for("db3's IO thread running", lambda: replica_status(
        lab, "db3")["Slave_IO_Running"] == "Yes")
    healthy(wizard)

    # A writable replica: ProxySQL's monitor may already have made it a second writer.
    lab.exec("db3", "mariadb", "-e", "SET GLOBAL read_only = 0")
    try:
        code, items, _ = health(wizard)
    finally:
        lab.exec("db3", "mariadb", "-e", "SET GLOBAL read_only = 1")
    assert code == 1
    bad = failing(items)
    assert bad["db3 replication"] == ("writable (read_only=0): ProxySQL would take it as a "
                                      "writer"), bad
    # The monitors move db3 into the writer hostgroup, each in its own time: while one node
    # has and the other has not, their runtime mysql_servers (and checksums) differ too.
    assert set(bad) <= {"db3 replication", "px1 servers", "px2 servers",
                        "config checksums"}, bad
    wait_for("health to pass with db3 read-only again", lambda: health(wizard)[0] == 0,
             timeout=60)

    # ProxySQL stopped on the node that does not hold the VIP (by its service: both of its
    # processes), started again after.
    [holder] = vip_holders(lab)
    other = next(p for p in PROXIES if p != holder)
    lab.exec(other, "service", "proxysql", "stop")
    try:
        code, items, _ = health(wizard)
    finally:
        lab.exec(other, "service", "proxysql", "start")
    assert code == 1
    bad = failing(items)
    assert set(bad) == {f"{other} servers", f"{other} monitor", "config checksums"}, bad
    assert "6032" in bad[f"{other} servers"], bad
    assert "6032" in bad[f"{other} monitor"], bad
    assert bad["config checksums"].startswith(f"{other} did not answer: "), bad
    # Left as found: healthy again once ProxySQL's monitor has seen the servers.
    healthy(wizard)


def test_no_secret_reaches_the_state_the_audit_or_the_runbook(running_lab: Lab,
                                                             migrated: Migrated) -> None:
    lab, wizard = running_lab, migrated.wizard
    lab_secrets = json.loads(lab.exec("jump", "cat", "/srv/mwlab/secrets.json").stdout)
    values = [*migrated.secrets.values(), *lab_secrets.values()]
    runbook = wizard("plan", "--inventory", LAB_INVENTORY)
    assert runbook.returncode == 0, runbook.stderr
    texts = {
        "state": lab.exec("jump", "cat", f"{wizard.state_dir}/mwlab.json").stdout,
        "audit": lab.exec("jump", "cat", f"{wizard.state_dir}/mwlab.audit.log").stdout,
        "output": migrated.output,
        "runbook": runbook.stdout,
    }
    for where, text in texts.items():
        leaked = [v[:3] + "..." for v in values if v in text]
        assert not leaked, f"secrets in the {where}: {leaked}"
    mode = lab.exec("jump", "stat", "-c", "%a", f"{wizard.state_dir}/mwlab.secrets").stdout
    assert mode.strip() == "600"


def test_drill_moves_the_vip_and_moodle_keeps_working(running_lab: Lab,
                                                      migrated: Migrated) -> None:
    lab = running_lab
    [holder] = vip_holders(lab)
    drill = migrated.wizard("drill", "vip")
    assert drill.returncode == 0, drill.stdout + drill.stderr
    match = re.search(r"moved from (px\d) to (px\d) in ([0-9.]+) s", drill.stdout)
    assert match, drill.stdout
    print(f"\ndrill vip: {match.group(3)} s ({match.group(1)} -> {match.group(2)})")
    assert match.group(1) == holder and vip_holders(lab) == [match.group(2)]
    assert lab.exec(holder, "service", "proxysql", "status", check=False).returncode == 0
    written = probe(lab)
    assert written["via"] == f"{VIP}:6033" and written["host"] == "db1"


def test_rollback_returns_every_host_to_the_original(running_lab: Lab,
                                                     migrated: Migrated) -> None:
    lab = running_lab
    # keepalived killed with SIGKILL on the holder leaves the VIP on its interface: rollback
    # must still take it away.
    [holder] = vip_holders(lab)
    pids = lab.exec(holder, "cat", "/run/keepalived.pid", "/run/vrrp.pid").stdout.split()
    lab.exec(holder, "kill", "-KILL", *pids)
    wait_for("keepalived gone", lambda: not any("keepalived" in p
                                                for p in processes(lab, holder)))
    assert holder in vip_holders(lab)
    # The probe rows written through Moodle's config are the one change the source keeps.
    lab.exec("db1", "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe")
    started = time.monotonic()
    back = migrated.wizard("rollback", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    print(f"\nfull rollback: {time.monotonic() - started:.1f} s")
    migrated.rolled_back = True
    after = cluster_snapshot(lab)
    before = migrated.before
    for snap in (before, after):
        snap["db1"]["checksums"].pop("moodle.mdl_mwlab_probe")
    assert after == before
    assert lab.exec("app", "cat", CONFIG).stdout == migrated.config_before
    assert vip_holders(lab) == []
    assert lab.exec("jump", "cat", f"{migrated.wizard.state_dir}/mwlab.secrets").stdout \
        .strip() == "{}"


def test_killed_after_proxysql_changed_its_admin_resume_finishes(running_lab: Lab) -> None:
    """SIGKILL once px1's ProxySQL has the generated admin credentials: the resumed wizard
    must find them again (they are in no state file), finish, and roll everything back."""
    lab = running_lab
    with Wizard(lab) as wizard:
        before = cluster_snapshot(lab)
        launcher = wizard.spawn("run", "--inventory", wizard.inventory("allow", **ALLOW_RESTART),
                                "--yes")

        def px1_configured() -> bool:
            assert launcher.poll() is None, launcher.stdout.read() if launcher.stdout else ""
            try:
                actions = wizard.state()["steps"]["proxysql"]["actions"]
            except (AssertionError, json.JSONDecodeError, KeyError):
                return False
            return any(a["id"] == "configure:px1" and a["status"] == "done" for a in actions)

        wait_for("px1's ProxySQL configured", px1_configured, timeout=120)
        os.kill(child_of(launcher.pid), signal.SIGKILL)
        launcher.wait(timeout=30)
        resumed = wizard("resume", "--yes")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert probe(lab)["via"] == f"{VIP}:6033"
        lab.exec("db1", "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe")
        back = wizard("rollback", "--yes")
        assert back.returncode == 0, back.stdout + back.stderr
        after = cluster_snapshot(lab)
        for snap in (before, after):
            snap["db1"]["checksums"].pop("moodle.mdl_mwlab_probe")
        assert after == before
