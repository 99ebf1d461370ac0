"""Bad input for the first half of the migration: one clear message, and no host changed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.lab.conftest import Lab
from tests.lab.wizard import LAB_INVENTORY, Wizard, lab_snapshot

KNOWN_HOSTS = "/root/.ssh/known_hosts"


@pytest.fixture()
def wizard(running_lab: Lab) -> Iterator[Wizard]:
    with Wizard(running_lab) as w:
        yield w


def refused(lab: Lab, wizard: Wizard, inventory: str, message: str,
            env: dict[str, str] | None = None) -> str:
    """Run the first half; it must stop with `message` and change nothing on any host."""
    before = lab_snapshot(lab)
    run = wizard("run", "--inventory", inventory, "--until", "replicas", "--yes", env=env)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    errors = [line for line in run.stderr.splitlines() if line.startswith("moodle-wizard:")]
    assert len(errors) == 1, run.stderr
    assert message in output, output
    assert "Traceback" not in output
    assert lab_snapshot(lab) == before
    return output


@contextmanager
def edited(lab: Lab, host: str, path: str, edit: Callable[[str], str]) -> Iterator[None]:
    original = lab.exec(host, "cat", path).stdout
    lab.exec(host, "sh", "-c", f"cat > {path}", input=edit(original).encode())
    try:
        yield
    finally:
        lab.exec(host, "sh", "-c", f"cat > {path}", input=original.encode())


def test_wrong_db_admin_password(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    lab.exec("db1", "mariadb", "-e", "CREATE USER mwadmin@localhost IDENTIFIED BY 'right-one';"
             "GRANT ALL ON *.* TO mwadmin@localhost WITH GRANT OPTION")
    try:
        inventory = wizard.inventory(
            "admin", **{"[migration]": '[migration]\ndb_admin_user = "mwadmin"'})
        refused(lab, wizard, inventory, "cannot log in to the database as 'mwadmin' with the "
                "given password", env={"MOODLE_WIZARD_DB_ADMIN_PASSWORD": "wrong-one"})
    finally:
        lab.exec("db1", "mariadb", "-e", "DROP USER mwadmin@localhost")


def test_unreachable_host(running_lab: Lab, wizard: Wizard) -> None:
    inventory = wizard.inventory("unreachable", **{'"10.77.0.13"': '"10.77.0.99"'})
    refused(running_lab, wizard, inventory, "db3")


def test_unknown_host_key_is_refused_with_its_fingerprint(running_lab: Lab,
                                                          wizard: Wizard) -> None:
    lab = running_lab
    fingerprint = lab.exec("db2", "ssh-keygen", "-lf",
                           "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]

    def without_db2(text: str) -> str:
        return "".join(line + "\n" for line in text.splitlines() if not line.startswith("db2,"))

    with edited(lab, "jump", KNOWN_HOSTS, without_db2):
        out = refused(lab, wizard, LAB_INVENTORY, f"--accept-host-key db2={fingerprint}")
        assert "unknown SSH host key" in out


def test_changed_host_key_is_refused_hard(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    db3_key = lab.exec("db3", "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]

    def swapped(text: str) -> str:
        lines = []
        for line in text.splitlines():
            if line.startswith("db2,"):
                names, kind, _ = line.split()
                line = f"{names} {kind} {db3_key}"
            lines.append(line)
        return "\n".join(lines) + "\n"

    with edited(lab, "jump", KNOWN_HOSTS, swapped):
        refused(lab, wizard, LAB_INVENTORY, "has CHANGED")
        # Accepting a key by fingerprint never overrides a changed one.
        fingerprint = lab.exec("db2", "ssh-keygen", "-lf",
                               "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
        before = lab_snapshot(lab)
        again = wizard("run", "--inventory", LAB_INVENTORY, "--until", "replicas", "--yes",
                       "--accept-host-key", f"db2={fingerprint}")
        assert again.returncode != 0 and "has CHANGED" in again.stderr
        assert lab_snapshot(lab) == before


def test_non_empty_replica_datadir(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    lab.exec("db2", "sh", "-c", "mkdir /var/lib/mysql/precious && echo keep > "
             "/var/lib/mysql/precious/data")
    try:
        refused(lab, wizard, LAB_INVENTORY, "db2: /var/lib/mysql is not empty (precious)")
    finally:
        lab.exec("db2", "rm", "-rf", "/var/lib/mysql/precious")


def test_too_little_disk_on_a_replica(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    lab.exec("db3", "mount", "-t", "tmpfs", "-o", "size=8m,uid=0,mode=0755", "tmpfs",
             "/var/lib/mysql")
    try:
        refused(lab, wizard, LAB_INVENTORY, "db3: 8.4 MB free for /var/lib/mysql, but the copy "
                "of db1 needs about")
    finally:
        lab.exec("db3", "umount", "/var/lib/mysql")


def test_a_myisam_table_is_a_question_that_yes_does_not_answer(running_lab: Lab,
                                                               wizard: Wizard) -> None:
    lab = running_lab
    lab.exec("db1", "mariadb", "-e", "CREATE TABLE moodle.mdl_legacy_cache (id INT PRIMARY "
             "KEY) ENGINE=MyISAM")
    try:
        out = refused(lab, wizard, LAB_INVENTORY, "not InnoDB: mdl_legacy_cache (MyISAM)")
        assert "accept_non_innodb" in out
    finally:
        lab.exec("db1", "mariadb", "-e", "DROP TABLE moodle.mdl_legacy_cache")


def test_replica_server_id_clash_with_the_source(running_lab: Lab, wizard: Wizard) -> None:
    inventory = wizard.inventory(
        "clash", **{'address = "10.77.0.12"': 'address = "10.77.0.12"\nserver_id = 1'})
    refused(running_lab, wizard, inventory, "db2: server_id 1 is the source's own server_id")
