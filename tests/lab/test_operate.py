"""After the migration, against the lab: switchover and back with a Moodle writer running
(no write lost, every server's data identical), the migration's rollback refused meanwhile, a
failover refused while the primary is alive, a failover after the primary's MariaDB crashed
(killed with its mysqld_safe, so it stays down) with the writer running, the old primary
rejoining, and the switch back that leaves the cluster as the migration made it.

Shares one migration (test_migration_cluster's `migrated` fixture, which rolls it back at the
end); the tests run in file order and each leaves db1 the primary.
"""

from __future__ import annotations

import json
from typing import Any

from tests.lab import test_migration_cluster as cluster
from tests.lab.conftest import Lab
from tests.lab.shapes import wait_for
from tests.lab.test_migration_cluster import Migrated, admin_query
from tests.lab.wizard import moodle_checksums, replica_status, sql
from tests.lab.writer import MoodleWriter, longest_pause

migrated = cluster.migrated  # the same fixture: one migration for this module
ADDRESS = {"db1": "10.77.0.11", "db2": "10.77.0.12", "db3": "10.77.0.13"}
ROLE_FILE = "/etc/mysql/mariadb.conf.d/91-moodle-wizard-role.cnf"


def admin(lab: Lab, m: Migrated, px: str, query: str) -> list[list[str]]:
    return admin_query(lab, px, m.secrets["proxysql_admin_password"], query)


def read_only(lab: Lab, host: str) -> str:
    return sql(lab, host, "SELECT @@read_only")[0][0]


def writers(lab: Lab, m: Migrated, px: str) -> list[str]:
    return [r[0] for r in admin(lab, m, px, "SELECT hostname FROM runtime_mysql_servers WHERE "
                                            "hostgroup_id = 10 AND status = 'ONLINE'")]


def role_file(lab: Lab, host: str) -> str:
    return lab.exec(host, "sh", "-c", f"cat {ROLE_FILE} 2>/dev/null || true").stdout


def assert_primary(lab: Lab, m: Migrated, primary: str, replicas: tuple[str, ...]) -> None:
    """From outside: `primary` writable and no replica; the others replicate from it,
    read-only; both proxies send writes to it; the journal says so."""
    assert read_only(lab, primary) == "0"
    assert sql(lab, primary, "SHOW SLAVE STATUS") == []
    for r in replicas:
        def running(r: str = r) -> dict[str, str] | None:
            s = replica_status(lab, r)
            ok = s.get("Slave_SQL_Running") == s.get("Slave_IO_Running") == "Yes"
            return s if ok else None

        status = wait_for(f"{r} replicating from {primary}", running)
        assert status is not None
        assert status["Master_Host"] == ADDRESS[primary], (r, status)
        assert read_only(lab, r) == "1", r
    for px in ("px1", "px2"):
        assert writers(lab, m, px) == [ADDRESS[primary]], px
    want = None if primary == "db1" else primary
    assert m.wizard.state()["cluster"]["primary"] == want


def same_data_everywhere(lab: Lab, primary: str, hosts: tuple[str, ...]) -> dict[str, str]:
    want = moodle_checksums(lab, primary)
    for host in hosts:
        def equal(host: str = host) -> bool:
            return moodle_checksums(lab, host) == want

        wait_for(f"{host}'s Moodle tables equal to {primary}'s", equal, timeout=30)
    return want


def switch(m: Migrated, to: str) -> str:
    out = m.wizard("switchover", "--to", to, "--yes")
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_switchover_and_back_loses_no_write_and_keeps_the_data_identical(
        running_lab: Lab, migrated: Migrated) -> None:
    lab, m = running_lab, migrated
    with MoodleWriter(lab) as writer:
        switch(m, "db2")
        assert_primary(lab, m, "db2", ("db1", "db3"))
        # The old primary restarts read-only, the new one writable: their role files say so.
        assert "read_only = ON" in role_file(lab, "db1")
        assert "read_only = OFF" in role_file(lab, "db2")
        assert role_file(lab, "db3") == ""
        refused = m.wizard("rollback", "--yes")
        assert refused.returncode != 0
        assert "the primary is now db2" in refused.stderr, refused.stderr
        switch(m, "db1")
        assert_primary(lab, m, "db1", ("db2", "db3"))
        writes = writer.stop()
        # Every write Moodle was told succeeded is on every server.
        for host in ("db1", "db2", "db3"):
            def all_rows(host: str = host) -> bool:
                return writer.rows(host) == len(writes["ok"])

            wait_for(f"the writer's rows on {host}", all_rows)
        same_data_everywhere(lab, "db1", ("db2", "db3"))
    print(f"\nswitchover and back with a writer: {len(writes['ok'])} writes, "
          f"{len(writes['failed'])} failed, longest pause {longest_pause(writes['ok']):.2f} s")
    assert writes["failed"] == [], writes["failed"][:5]
    for host in ("db1", "db2", "db3"):
        assert role_file(lab, host) == "", host


def test_failover_is_refused_while_the_primary_is_alive(running_lab: Lab,
                                                        migrated: Migrated) -> None:
    lab, m = running_lab, migrated
    before = m.wizard.state()["cluster"]
    out = m.wizard("failover", "--yes")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "failover refused: db1 is not down" in out.stderr, out.stderr
    assert "nothing was changed" in out.stderr
    assert m.wizard.state()["cluster"] == before
    assert_primary(lab, m, "db1", ("db2", "db3"))


def crash(lab: Lab, host: str) -> None:
    """MariaDB dies and stays down: its mysqld_safe first (it would restart it), by pid."""
    lab.exec(host, "sh", "-c", "for p in $(pidof -x mysqld_safe mariadbd-safe); do "
             "kill -9 $p; done; kill -9 $(pidof mariadbd)")
    wait_for(f"MariaDB on {host} gone", lambda: lab.exec(
        host, "pidof", "mariadbd", check=False).returncode != 0)


def fenced_rows(lab: Lab, m: Migrated, px: str, host: str) -> list[str]:
    return [r[0] for r in admin(lab, m, px, f"SELECT status FROM mysql_servers WHERE "
                                            f"hostname = '{ADDRESS[host]}'")]


def health(m: Migrated) -> dict[str, Any]:
    out = m.wizard("health", "--json")
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def test_failover_after_a_crash_then_rejoin_and_switch_back(running_lab: Lab,
                                                            migrated: Migrated) -> None:
    lab, m = running_lab, migrated
    with MoodleWriter(lab, cleanup_on="db1") as writer:
        wait_for("the writer's first row", lambda: writer.rows("db1") > 0)
        crash(lab, "db1")
        out = m.wizard("failover", "--yes")
        assert out.returncode == 0, out.stdout + out.stderr
        assert "is fenced" in out.stdout
        new = m.wizard.state()["cluster"]["primary"]
        assert new in ("db2", "db3"), m.wizard.state()["cluster"]
        other = "db3" if new == "db2" else "db2"
        assert m.wizard.state()["cluster"]["fenced"] == ["db1"]
        for px in ("px1", "px2"):
            assert writers(lab, m, px) == [ADDRESS[new]], px
            assert set(fenced_rows(lab, m, px, "db1")) == {"OFFLINE_HARD"}, px
        # Moodle writes again, through the VIP, to the new primary.
        seen = writer.rows(new)
        wait_for("Moodle's writes on the new primary", lambda: writer.rows(new) > seen)
        assert "read_only = ON" in role_file(lab, "db1")
        item = {i["name"]: i for i in health(m)["items"]}["db1 fenced"]
        assert item["ok"] is False and "rejoin" in item["detail"], item
        # The old primary comes back read-only (its role file) and rejoins.
        lab.exec("db1", "service", "mariadb", "start")
        assert read_only(lab, "db1") == "1"
        back = m.wizard("rejoin", "db1")
        assert back.returncode == 0, back.stdout + back.stderr
        assert_primary(lab, m, new, ("db1", other))
        assert m.wizard.state()["cluster"]["fenced"] == []
        switch(m, "db1")
        writes = writer.stop()
    assert_primary(lab, m, "db1", ("db2", "db3"))
    same_data_everywhere(lab, "db1", ("db2", "db3"))
    # The replicas were pointed at db1 again: ProxySQL's monitor takes one whose lag read NULL
    # meanwhile out of the readers until its next lag check, so health is waited for.
    cluster.healthy(m.wizard)
    print(f"\nfailover with a writer: {len(writes['ok'])} writes ok, "
          f"{len(writes['failed'])} failed, longest pause {longest_pause(writes['ok']):.2f} s")
