"""Issue 10, items 6 and 13, after a full migration of the lab:

- 6: someone edits config.php after the cutover; `rollback --yes` refuses, shows the change
  (Moodle's password masked) and names --force-config; nothing is rolled back, the edit stays;
- 13: `finish --yes` removes the backups only a rollback needed (config.php's original on app,
  ProxySQL's and keepalived's old configs on the proxies), the scratch schema on every
  database server; replication, ProxySQL and the VIP run on (Moodle writes and reads through
  the VIP); rollback is refused from then on.

Leaving the lab as it was found: `finish` deliberately makes the migration impossible to roll
back, and the lab must be rolled back. So before `finish` the test copies exactly what finish
removes (the state file, and each host's /var/backups/moodle-wizard, into a 0700 directory of
the test's own) and puts it back afterwards; the scratch schema needs no copy (rollback drops
it only if it exists). The last test then rolls the migration back and compares every host
with its state from before the migration.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.conftest import Lab
from tests.lab.test_migration_cluster import (
    CONFIG,
    VIP,
    Migrated,
    cluster_snapshot,
    probe,
    vip_holders,
    wait_for,
)
from tests.lab.wizard import ALLOW_RESTART, Wizard, replica_status, sql

BACKUPS = "/var/backups/moodle-wizard"
HOSTS_WITH_BACKUPS = ("app", "px1", "px2")


@pytest.fixture(scope="module")
def migrated(running_lab: Lab) -> Iterator[Migrated]:
    """One full migration of the lab; rolled back at the end if a test did not."""
    lab = running_lab
    with Wizard(lab) as wizard:
        before = cluster_snapshot(lab)
        config_before = lab.exec("app", "cat", CONFIG).stdout
        inventory = wizard.inventory("finish", **ALLOW_RESTART)
        started = time.monotonic()
        run = wizard("run", "--inventory", inventory, "--yes")
        state = Migrated(wizard, before, config_before, time.monotonic() - started,
                         run.stdout + run.stderr)
        try:
            assert run.returncode == 0, state.output
            yield state
        finally:
            if not state.rolled_back:
                back = wizard("rollback", "--yes")
                assert back.returncode == 0, back.stdout + back.stderr


def moodle_password(lab: Lab, config: str) -> str:
    line = next(li for li in config.splitlines() if li.startswith("$CFG->dbpass"))
    return line.split("'")[1]


def test_rollback_refuses_a_config_php_changed_after_the_cutover(
        running_lab: Lab, migrated: Migrated) -> None:
    lab = running_lab
    written = lab.exec("app", "cat", CONFIG).stdout
    admin_line = f"// changed by the admin {secrets.token_hex(3)}"
    lab.exec("app", "sh", "-c", 'cat > "$0"', CONFIG, input=f"{written}{admin_line}\n".encode())
    try:
        back = migrated.wizard("rollback", "--yes")
        output = back.stdout + back.stderr
        assert back.returncode != 0, output
        assert "was changed by someone else after the cutover" in output, output
        assert f"+{admin_line}" in output and "moodle-wizard rollback --force-config" in output
        assert moodle_password(lab, written) not in output
        # Nothing was rolled back: the edit, the VIP and Moodle's path through it are there.
        assert lab.exec("app", "cat", CONFIG).stdout == f"{written}{admin_line}\n"
        assert len(vip_holders(lab)) == 1
        state = migrated.wizard.state()
        assert {n: s["status"] for n, s in state["steps"].items()} == {
            n: "done" for n in state["steps"]}
        assert "--force-config" in (state["steps"]["cutover"]["last_error"] or "")
    finally:
        lab.exec("app", "sh", "-c", 'cat > "$0"', CONFIG, input=written.encode())
    assert probe(lab)["via"] == f"{VIP}:6033"


def backups(lab: Lab) -> dict[str, list[str]]:
    return {h: lab.exec(h, "sh", "-c", f"cd {BACKUPS} 2>/dev/null && find . -mindepth 1 "
                        "-printf '%P %m\\n' | sort; true").stdout.splitlines()
            for h in HOSTS_WITH_BACKUPS}


def scratch_schema(lab: Lab) -> dict[str, Any]:
    return {h: sql(lab, h, "SHOW DATABASES LIKE 'moodle\\_wizard'") for h in ("db1", "db2", "db3")}


def test_finish_removes_what_only_rollback_needed_and_the_cluster_runs_on(
        running_lab: Lab, migrated: Migrated) -> None:
    lab, wizard = running_lab, migrated.wizard
    state_file = f"{wizard.state_dir}/mwlab.json"
    saved_state = f"{wizard.state_dir}/mwlab.json.before-finish"
    save = f"/root/mw-finish-save-{secrets.token_hex(3)}"
    found = backups(lab)
    print(f"\nbackups before finish: {found}")
    # config.php's original: 0600, and its path is the one in the state.
    recorded = wizard.state()["steps"]["cutover"]["facts"]["apps"]["app"]["backup"]
    assert f"{recorded.removeprefix(BACKUPS + '/')} 600" in found["app"], (recorded, found)
    assert all(rows == [["moodle_wizard"]] for rows in scratch_schema(lab).values())
    lab.exec("jump", "cp", "-p", state_file, saved_state)
    for host in HOSTS_WITH_BACKUPS:
        lab.exec(host, "sh", "-c", f"[ ! -d {BACKUPS} ] || {{ mkdir -m 0700 {save} && "
                 f"cp -a {BACKUPS} {save}/; }}")
    try:
        # Without --yes and without a terminal, the question is answered no: nothing removed.
        declined = wizard("finish")
        assert declined.returncode != 0 and "declined; nothing was changed" in declined.stdout
        assert "Remove config.php's original on app" in declined.stdout
        assert backups(lab) == found
        started = time.monotonic()
        done = wizard("finish", "--yes")
        print(f"finish --yes: {time.monotonic() - started:.1f} s\n{done.stdout}")
        assert done.returncode == 0, done.stdout + done.stderr
        for host in HOSTS_WITH_BACKUPS:
            assert lab.exec(host, "test", "-e", BACKUPS, check=False).returncode != 0, host
        assert all(rows == [] for rows in scratch_schema(lab).values())
        # The cluster runs on: replication, the writer and a replica through the VIP.
        for host in ("db2", "db3"):
            status = replica_status(lab, host)
            assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "Yes")
        written = probe(lab)
        assert written["via"] == f"{VIP}:6033" and written["host"] == "db1"
        for host in ("db2", "db3"):
            wait_for(f"the probe row on {host}", lambda h=host: sql(
                lab, h, "SELECT COUNT(*) FROM moodle.mdl_mwlab_probe WHERE token = '"
                + written["token"] + "'")[0] == ["1"])
        assert probe(lab, "--read-only")["host"] in ("db2", "db3")
        assert len(vip_holders(lab)) == 1
        status = wizard("status")
        assert "finished" in status.stdout and "rollback is no longer offered" in status.stdout
        assert json.loads(lab.exec("jump", "cat", state_file).stdout)["finished_at"]
        # Rollback is refused, before anything changes.
        config = lab.exec("app", "sha256sum", CONFIG).stdout
        refused = wizard("rollback", "--yes")
        assert refused.returncode != 0
        assert "was declared finished with `moodle-wizard finish`" in refused.stderr
        assert "nothing was changed" in refused.stderr
        assert lab.exec("app", "sha256sum", CONFIG).stdout == config
        assert len(vip_holders(lab)) == 1
        # Run again, finish only checks: nothing left to remove.
        again = wizard("finish", "--yes")
        assert again.returncode == 0 and "nothing left to remove" in again.stdout, again.stdout
    finally:
        # Undo the test's finish (see the module docstring), so the lab can be rolled back.
        lab.exec("jump", "mv", "-f", saved_state, state_file)
        for host in HOSTS_WITH_BACKUPS:
            lab.exec(host, "sh", "-c", f"[ ! -d {save} ] || {{ rm -rf {BACKUPS} && "
                     f"cp -a {save}/moodle-wizard {BACKUPS} && rm -rf {save}; }}")
    assert backups(lab) == found


def test_the_lab_is_rolled_back_to_what_it_was(
        running_lab: Lab, migrated: Migrated) -> None:
    lab = running_lab
    lab.exec("db1", "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe")
    back = migrated.wizard("rollback", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    migrated.rolled_back = True
    after, before = cluster_snapshot(lab), migrated.before
    for snap in (before, after):
        snap["db1"]["checksums"].pop("moodle.mdl_mwlab_probe")
    assert after == before
    assert lab.exec("app", "cat", CONFIG).stdout == migrated.config_before
