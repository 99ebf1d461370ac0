"""Issue 12 items 2 and 3, end to end: the wizard migrates and rolls back a lab whose replica
hosts are as `apt-get install mariadb-server` leaves them (`--replicas fresh-package`), and one
whose replica hosts lack the server packages with two Moodle app servers (`--replicas bare
--app-hosts 2`). Everything is checked from inside the hosts.

The module builds each shape with small data and leaves the default lab up (50 MB, as the other
lab tests' fixture builds it), whatever it found.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from moodle_wizard.lab.topology import Shape
from tests.lab.conftest import Lab
from tests.lab.shapes import build, restore_default_lab
from tests.lab.test_migration_cluster import PROXIES, app_snapshot, cluster_snapshot, px_snapshot
from tests.lab.wizard import (
    ALLOW_RESTART,
    Wizard,
    moodle_checksums,
    replica_status,
    source_snapshot,
)

# Two rebuilds of the lab (some 2.5 minutes): in `make test-lab-shapes`, not in `make test`.
pytestmark = pytest.mark.lab_shapes

FRESH = Shape(replicas="fresh-package")
BARE_TWO_APPS = Shape(replicas="bare", app_hosts=2)
REPLICAS = ("db2", "db3")
APPS = ("app", "app2")
CONFIG = "/var/www/moodle/config.php"
VIP = "10.77.0.100"
DATADIR = "/var/lib/mysql"


@pytest.fixture(scope="module", autouse=True)
def default_lab_afterwards() -> Iterator[None]:
    yield
    restore_default_lab()


def datadir_files(lab_: Lab, host: str) -> str:
    """Every entry of the datadir with its type and size, and every file's hash: moved aside
    and back, it is the same datadir, not one like it."""
    return lab_.exec(host, "sh", "-c", f"[ -e {DATADIR} ] || {{ echo absent; exit 0; }}; "
                     f"cd {DATADIR} && find . -printf '%y %s %u %m %p\\n' | sort && "
                     "find . -type f | sort | xargs -r sha256sum").stdout


def dpkg_list(lab_: Lab, host: str) -> str:
    return lab_.exec(host, "dpkg-query", "-W", "-f",
                     "${binary:Package} ${Version} ${db:Status-Abbrev}\\n").stdout


def config_php(lab_: Lab, host: str) -> str:
    return lab_.exec(host, "sh", "-c", f"stat -c '%U:%G %a %s' {CONFIG}; "
                     f"sha256sum {CONFIG}").stdout


def dbhost(lab_: Lab, host: str) -> str:
    out = lab_.exec(host, "php", "-r", "define('CLI_SCRIPT', true); require "
                    f"'{CONFIG}'; echo json_encode($CFG);").stdout
    value = json.loads(out)["dbhost"]
    assert isinstance(value, str)
    return value


def probe(lab_: Lab, host: str) -> dict[str, Any]:
    result = json.loads(lab_.exec(host, "moodle-probe").stdout)
    assert isinstance(result, dict)
    return result


def replicating(lab_: Lab) -> None:
    for replica in REPLICAS:
        status = replica_status(lab_, replica)
        assert status["Slave_IO_Running"] == "Yes", (replica, status)
        assert status["Slave_SQL_Running"] == "Yes", (replica, status)
    want = moodle_checksums(lab_, "db1")
    for replica in REPLICAS:
        assert moodle_checksums(lab_, replica) == want, replica


def run_and_roll_back(lab_: Lab, name: str, during: Any) -> tuple[str, str]:
    """plan, run --yes, `during(wizard)`, rollback --yes; the plan's and the run's output."""
    with Wizard(lab_) as wizard:
        inventory = wizard.inventory(name, **ALLOW_RESTART)
        plan = wizard("plan", "--inventory", inventory)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        run = wizard("run", "--inventory", inventory, "--yes")
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        during(wizard)
        back = wizard("rollback", "--yes")
        assert back.returncode == 0, back.stdout[-4000:] + back.stderr[-4000:]
    return plan.stdout, run.stdout + run.stderr


def fresh_snapshot(lab_: Lab) -> dict[str, Any]:
    """cluster_snapshot, with db3's server as running or not (its pid changes with the
    restart rollback does)."""
    snap = cluster_snapshot(lab_)
    snap["db3"]["server"] = bool(snap["db3"]["server"])
    return snap


def entries(files: str) -> list[str]:
    """The datadir's entries by type and path (a running server rewrites its files)."""
    return [line.split(" ")[0] + " " + line.split(" ")[-1] for line in files.splitlines()
            if line[:2] in ("d ", "f ")]


def test_fresh_package_replicas_are_moved_aside_and_back() -> None:
    """db2 as a container leaves it (nothing started); db3 as a normal host does (the
    package's postinst starts the server there): stopped, and started again by rollback."""
    lab_ = build(FRESH)
    lab_.exec("db3", "service", "mariadb", "start")
    before = fresh_snapshot(lab_)
    files = {r: datadir_files(lab_, r) for r in REPLICAS}
    for r in REPLICAS:
        assert " ./mysql/" in files[r] and " ./moodle" not in files[r], files[r][:500]
    assert lab_.exec("db2", "pidof", "mariadbd", check=False).returncode == 1
    assert before["db3"]["server"] is True
    aside = {}

    def during(wizard: Wizard) -> None:
        replicating(lab_)
        mid = wizard.state()["migration_id"]
        for r in REPLICAS:
            aside[r] = f"{DATADIR}.moodle-wizard-{mid}"
            # The fresh datadir kept whole beside the replica's own.
            kept = lab_.exec(r, "sh", "-c", f"cd {aside[r]} && find . -printf "
                             "'%y %s %u %m %p\\n' | sort").stdout
            if r == "db2":
                assert kept in files[r]
            else:  # stopped: the server removes its temporary tablespace and DDL log
                gone = set(entries(files[r])) - set(entries(kept))
                assert gone <= {"f ./ibtmp1", "f ./ddl_recovery.log"} and set(
                    entries(kept)) <= set(
                    entries(files[r])), (gone, kept)

    plan, run = run_and_roll_back(lab_, "fresh", during)
    assert "a freshly installed server's system tables" in plan
    for r in REPLICAS:
        said = (f"{r}: {DATADIR} is a freshly installed server's (system tables only: no "
                "user schema, no binary or relay log, no replication); it will be moved aside "
                f"to {aside[r]} (kept, not deleted; rollback moves it back)")
        stopped = "; the server running on it is stopped first (rollback starts it again)"
        assert said in run
        assert (said + stopped in run) == (r == "db3"), run
        assert lab_.exec(r, "test", "-e", aside[r], check=False).returncode == 1
    assert datadir_files(lab_, "db2") == files["db2"], "db2: its fresh datadir, as it was"
    assert entries(datadir_files(lab_, "db3")) == entries(files["db3"])
    assert fresh_snapshot(lab_) == before


def bare_snapshot(lab_: Lab) -> dict[str, Any]:
    """What the migration and its rollback must leave as it was, besides the packages and
    config.php (the replicas have no datadir: cluster_snapshot would list it)."""
    db1 = source_snapshot(lab_)
    # The one table Moodle's probe writes to (each probe through the VIP adds its row).
    db1["checksums"].pop("moodle.mdl_mwlab_probe")
    return {"db1": db1, **{h: px_snapshot(lab_, h) for h in PROXIES},
            "app": app_snapshot(lab_),
            **{r: lab_.exec(r, "sh", "-c", "cat /root/.ssh/authorized_keys; pidof mariadbd; "
                            "ls /var/log/mysql 2>/dev/null || true").stdout for r in REPLICAS}}


def test_bare_replicas_and_two_app_servers() -> None:
    lab_ = build(BARE_TWO_APPS)
    before = bare_snapshot(lab_)
    dpkg = {r: dpkg_list(lab_, r) for r in REPLICAS}
    configs = {a: config_php(lab_, a) for a in APPS}
    db1 = lab_.topo.host_address("db1")
    for r in REPLICAS:
        assert not [line for line in dpkg[r].splitlines()
                    if line.startswith("mariadb-server ") and line.endswith(" ii ")], dpkg[r]
        assert datadir_files(lab_, r) == "absent\n"
    for a in APPS:
        assert dbhost(lab_, a) == db1

    def during(wizard: Wizard) -> None:
        replicating(lab_)
        for r in REPLICAS:
            assert "10.11" in lab_.exec(r, "mariadbd", "--version").stdout
        for a in APPS:
            assert dbhost(lab_, a) == VIP
            result = probe(lab_, a)
            assert result["host"] == "db1" and result["via"].startswith(f"{VIP}:"), result
        added = wizard.state()["steps"]["replicas"]["facts"]["dpkg"]
        for r in REPLICAS:
            # The packages asked for and what apt-get installed for them.
            assert {"mariadb-server", "mariadb-server-core", "mariadb-client-core"} <= set(
                added[r]["added"]), added[r]

    plan, _ = run_and_roll_back(lab_, "bare", during)
    for a in APPS:  # each app host's config.php copied, checked and replaced on its own
        for title in (f"Copy config.php on {a} aside", f"Replace config.php on {a}"):
            assert f"### {title}\n" in plan, title
        assert f"on {a}: write {CONFIG} (mode <its mode>):  # atomically" in plan
    for r in REPLICAS:
        assert (f"on {r}: apt-get -s -q install mariadb-server mariadb-backup mariadb-client "
                ">/dev/null 2>&1 || apt-get update -q; ") in plan
    for a in APPS:
        assert config_php(lab_, a) == configs[a], f"{a}: config.php byte for byte"
        assert probe(lab_, a)["via"].startswith(f"{db1}:"), a
    for r in REPLICAS:
        assert dpkg_list(lab_, r) == dpkg[r], f"{r}: dpkg lists every package as before"
        assert datadir_files(lab_, r) == "absent\n", r
        assert lab_.exec(r, "pidof", "mariadbd", check=False).returncode == 1
    assert bare_snapshot(lab_) == before
