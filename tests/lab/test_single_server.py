"""Issue 12 item 1: Moodle and its database on one server, the first picture of every
"standalone Moodle" guide. `lab up --shape single-server` puts config.php, moodle-probe and
MariaDB (bound to 127.0.0.1, `dbhost = 'localhost'`) on db1; the wizard migrates it headless
and rolls it back, and everything is checked from the hosts themselves.

The module builds that shape and leaves the default lab up afterwards, whatever it found.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from moodle_wizard.lab.topology import Shape
from tests.lab.conftest import Lab
from tests.lab.shapes import build, restore_default_lab
from tests.lab.test_migration_cluster import PROXIES, px_snapshot
from tests.lab.wizard import ALLOW_RESTART, Wizard, lab_snapshot, replica_status, sql

SINGLE = Shape("single-server")
CONFIG = "/var/www/moodle/config.php"
VIP = "10.77.0.100"


@pytest.fixture(scope="module")
def single_lab() -> Iterator[Lab]:
    try:
        yield build(SINGLE)
    finally:
        restore_default_lab()


def tcp(lab_: Lab, host: str, address: str, port: int) -> bool:
    """Whether `host` can open a TCP connection to address:port (bash's /dev/tcp)."""
    return lab_.exec(host, "timeout", "5", "bash", "-c", f"exec 3<>/dev/tcp/{address}/{port}",
                     check=False).returncode == 0


def db1_snapshot(lab_: Lab) -> dict[str, Any]:
    """db1 as a rollback must leave it: the database server's state and files, and Moodle's
    config.php byte for byte (this host is also the app server)."""
    return {
        "cluster": {**lab_snapshot(lab_), **{h: px_snapshot(lab_, h) for h in PROXIES}},
        "config": lab_.exec("db1", "sh", "-c", f"stat -c '%U:%G %a' {CONFIG}; "
                            f"sha256sum {CONFIG}").stdout,
        "bind": sql(lab_, "db1", "SELECT @@bind_address, @@port"),
        "grants": sorted(map(tuple, sql(lab_, "db1", "SELECT user, host FROM mysql.user"))),
    }


def differences(before: Any, after: Any, where: str = "") -> list[str]:
    """The paths where two snapshots differ, with both values (a readable failure)."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [d for k in sorted(set(before) | set(after))
                for d in differences(before.get(k), after.get(k), f"{where}.{k}")]
    return [] if before == after else [f"{where}: {before!r} -> {after!r}"]


def test_moodle_and_its_database_on_one_server_migrate_and_roll_back(single_lab: Lab) -> None:
    lab_ = single_lab
    db1 = lab_.topo.host_address("db1")
    assert not tcp(lab_, "db2", db1, 3306), "the shape: db1's MariaDB on 127.0.0.1 only"
    before = db1_snapshot(lab_)
    with Wizard(lab_) as wizard:
        inventory = wizard.inventory("single", **ALLOW_RESTART)
        assert 'roles = ["source", "app"]' in lab_.exec("jump", "cat", inventory).stdout

        plan = wizard("plan", "--inventory", inventory)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert f"change bind-address from 127.0.0.1 to 127.0.0.1,{db1}" in plan.stdout

        run = wizard("run", "--inventory", inventory, "--yes")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

        # db1 listens on its own address too (and still on 127.0.0.1), for the replicas and
        # the proxies; both replicas follow it.
        assert sql(lab_, "db1", "SELECT @@bind_address") == [[f"127.0.0.1,{db1}"]]
        assert tcp(lab_, "db2", db1, 3306) and tcp(lab_, "db1", "127.0.0.1", 3306)
        for replica in ("db2", "db3"):
            status = replica_status(lab_, replica)
            assert status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes"
        # Moodle on db1 now goes through the VIP and ProxySQL, and reaches db1 to write.
        probe = json.loads(lab_.exec("db1", "moodle-probe").stdout)
        assert probe["host"] == "db1" and probe["via"].startswith(f"{VIP}:"), probe
        health = wizard("health", "--json")
        assert health.returncode == 0, health.stdout + health.stderr
        items = json.loads(health.stdout)["items"]
        assert len(items) >= 8 and all(item["ok"] is True for item in items), items

        back = wizard("rollback", "--yes")
        assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    after = db1_snapshot(lab_)
    # The probe rows written through Moodle's config are the one change the source keeps.
    for snap in (before, after):
        snap["cluster"]["db1"]["checksums"].pop("moodle.mdl_mwlab_probe")
    assert after == before, differences(before, after)
    assert not tcp(lab_, "db2", db1, 3306), "back on 127.0.0.1 only, as it was"
    probe = json.loads(lab_.exec("db1", "moodle-probe").stdout)
    assert probe["host"] == "db1" and probe["via"].startswith("localhost"), probe
