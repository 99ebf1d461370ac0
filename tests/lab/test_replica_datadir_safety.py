"""A replica host's data is never lost: the wizard looks at the host as it is now, acts only on
a datadir it can prove is its own, and rollback touches only what the journal says it did."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.conftest import Lab
from tests.lab.test_bad_input_replicas import refused
from tests.lab.wizard import Wizard, sql

DATADIR = "/var/lib/mysql"
ALLOW_RESTART = {'source_restart = "ask"': 'source_restart = "allow"'}
REPLACE = {"[migration]": "[migration]\nreplace_replica_datadir = true"}


@pytest.fixture()
def wizard(running_lab: Lab) -> Iterator[Wizard]:
    with Wizard(running_lab) as w:
        yield w
        # Whatever the test left half-done is rolled back (the lab is shared by later tests).
        w("rollback", "--yes")


def mount_with_data(lab: Lab, host: str) -> None:
    lab.exec(host, "mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", DATADIR)
    lab.exec(host, "sh", "-c", f"mkdir {DATADIR}/precious && echo keep > "
             f"{DATADIR}/precious/data")


def precious(lab: Lab, host: str) -> str:
    return lab.exec(host, "sh", "-c", f"cat {DATADIR}/precious/data 2>&1 || true").stdout


def test_a_mount_point_with_data_is_refused_before_anything_changes(running_lab: Lab,
                                                                    wizard: Wizard) -> None:
    lab = running_lab
    inventory = wizard.inventory("mount", **ALLOW_RESTART, **REPLACE)
    mount_with_data(lab, "db3")
    try:
        out = refused(lab, wizard, inventory, f"db3: {DATADIR} is a mount point with data")
        assert "unmount" in out
        assert precious(lab, "db3") == "keep\n"
    finally:
        lab.exec("db3", "umount", DATADIR)


def test_a_datadir_that_changed_after_the_preflight_is_never_emptied(running_lab: Lab,
                                                                     wizard: Wizard) -> None:
    """The wizard dies right after stopping db3's (absent) server; meanwhile db3's datadir
    becomes a mount point with data (`mv` cannot move it: EBUSY). A resumed step is not
    preflighted again: each action must look for itself, and no resume and no rollback may
    take the operator's data for the wizard's own."""
    lab = running_lab
    inventory = wizard.inventory("crash-mount", **ALLOW_RESTART, **REPLACE)
    crashed = wizard("run", "--inventory", inventory, "--until", "replicas", "--yes",
                     env={"MOODLE_WIZARD_CRASH_AFTER": "replicas/stop:db3"})
    assert crashed.returncode != 0
    assert wizard.state()["steps"]["replicas"]["status"] == "running"
    mount_with_data(lab, "db3")
    try:
        for _ in range(2):
            again = wizard("resume", "--yes")
            assert again.returncode != 0, again.stdout
            assert f"db3: {DATADIR} is a mount point with data" in again.stderr, again.stderr
            assert precious(lab, "db3") == "keep\n"
        rolled = wizard("rollback", "--yes")
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        assert precious(lab, "db3") == "keep\n"
    finally:
        lab.exec("db3", "umount", DATADIR)


def test_a_server_installed_after_discovery_is_left_exactly_as_it_was(running_lab: Lab,
                                                                      wizard: Wizard) -> None:
    """The review's case: discovery, then db3 gets a server with a database of its own, then
    `run --yes` and `rollback --yes`. db3's server keeps running and its database stays."""
    lab = running_lab
    inventory = wizard.inventory("late-server", **ALLOW_RESTART)
    first = wizard("run", "--inventory", inventory, "--until", "discover", "--yes")
    assert first.returncode == 0, first.stderr
    try:
        pid = add_server(lab, "db3")
        run = wizard("run", "--inventory", inventory, "--yes")
        assert run.returncode != 0
        assert f"db3: {DATADIR} is not empty" in run.stderr, run.stderr
        assert "a server is running on it" in run.stderr
        assert lab.exec("db3", "pidof", "mariadbd").stdout.strip() == pid
        rollback = wizard("rollback", "--yes")
        assert rollback.returncode == 0, rollback.stdout + rollback.stderr
        assert lab.exec("db3", "pidof", "mariadbd").stdout.strip() == pid
        assert sql(lab, "db3", "SELECT id FROM keepme.t") == [["42"]]
    finally:
        remove_server(lab, "db3")


def test_rollback_touches_only_the_hosts_the_journal_names(running_lab: Lab,
                                                           wizard: Wizard) -> None:
    """The wizard dies after preparing db2's datadir; db3 then gets a server with data. The
    resumed step refuses at db3 before stopping anything, and rollback undoes db2 only: db3's
    server keeps running with its database."""
    lab = running_lab
    inventory = wizard.inventory("journal", **ALLOW_RESTART)
    crashed = wizard("run", "--inventory", inventory, "--until", "replicas", "--yes",
                     env={"MOODLE_WIZARD_CRASH_AFTER": "replicas/datadir:db2"})
    assert crashed.returncode != 0
    try:
        pid = add_server(lab, "db3")
        again = wizard("resume", "--yes")
        assert again.returncode != 0
        assert f"db3: {DATADIR} is not empty" in again.stderr, again.stderr
        assert lab.exec("db3", "pidof", "mariadbd").stdout.strip() == pid
        rollback = wizard("rollback", "--yes")
        assert rollback.returncode == 0, rollback.stdout + rollback.stderr
        assert "db3: not touched" in rollback.stdout, rollback.stdout
        assert "db2: the wizard replaced its datadir" in rollback.stdout, rollback.stdout
        assert lab.exec("db3", "pidof", "mariadbd").stdout.strip() == pid
        assert sql(lab, "db3", "SELECT id FROM keepme.t") == [["42"]]
        assert lab.exec("db2", "ls", "-A", DATADIR).stdout == ""
    finally:
        remove_server(lab, "db3")


def remove_server(lab: Lab, host: str) -> None:
    """The server the test itself put on a replica host, and its data."""
    lab.exec(host, "sh", "-c", "service mariadb stop >/dev/null; "
             f"find {DATADIR} -mindepth 1 -delete")


def test_a_replaced_datadir_is_moved_aside_and_back(running_lab: Lab, wizard: Wizard) -> None:
    """With replace_replica_datadir, db2's running server is stopped and its datadir moved
    aside whole (never deleted); the copy carries the migration's marker; rollback empties only
    the marked copy, moves the original back and starts the server the wizard stopped."""
    lab = running_lab
    inventory = wizard.inventory("replace", **ALLOW_RESTART, **REPLACE)
    add_server(lab, "db2")
    try:
        run = wizard("run", "--inventory", inventory, "--until", "replicas", "--yes")
        assert run.returncode == 0, run.stdout + run.stderr
        aside = f"{DATADIR}.moodle-wizard-mwlab"
        assert lab.exec("db2", "test", "-d", f"{aside}/keepme").returncode == 0
        marker = lab.exec("db2", "cat", f"{DATADIR}/.moodle-wizard-datadir").stdout
        assert marker.startswith("mwlab@")
        assert lab.exec("db3", "cat", f"{DATADIR}/.moodle-wizard-datadir").stdout == marker
        rollback = wizard("rollback", "--yes")
        assert rollback.returncode == 0, rollback.stdout + rollback.stderr
        assert "db2: the wizard replaced its datadir" in rollback.stdout
        assert "db2: the wizard stopped the server that was running there" in rollback.stdout
        assert sql(lab, "db2", "SELECT id FROM keepme.t") == [["42"]]
        assert lab.exec("db2", "sh", "-c", f"ls -d {aside} 2>/dev/null || true").stdout == ""
        assert lab.exec("db2", "sh", "-c", f"ls -A {DATADIR} | grep -c moodle-wizard || true"
                        ).stdout.strip() == "0"
        assert lab.exec("db3", "ls", "-A", DATADIR).stdout == ""
    finally:
        remove_server(lab, "db2")


def add_server(lab: Lab, host: str) -> str:
    """A server with a database of its own on a replica host, as an operator might have put
    there; its pid."""
    lab.exec(host, "sh", "-c", f"mariadb-install-db --user=mysql --datadir={DATADIR} "
             "--skip-test-db >/dev/null && service mariadb start >/dev/null")
    lab.exec(host, "mariadb", "-e", "CREATE DATABASE keepme; CREATE TABLE keepme.t "
             "(id INT PRIMARY KEY); INSERT INTO keepme.t VALUES (42)")
    return lab.exec(host, "pidof", "mariadbd").stdout.strip()
