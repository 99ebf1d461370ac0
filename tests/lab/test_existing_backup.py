"""Issue 16: the replicas seeded from last night's backup (`lab up --backup nightly`): from the
mariadb-backup directory and from the SQL dump on the lab's `backup` host, then caught up with
db1's binary log, in sync and with equal checksums; the source read nothing for the seed; a
rollback puts the lab back; a wizard killed mid-restore resumes. With `--backup purged` the
seed is refused before anything changes.

Not in `make test` (it builds the lab in its own shape): `make test-lab-backup`."""

from __future__ import annotations

import json
import os
import secrets
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from moodle_wizard.lab.topology import Shape
from tests.lab.conftest import Lab
from tests.lab.shapes import build, restore_default_lab, wait_for
from tests.lab.test_migration_replicas import assert_replicating, child_of, roll_back_to
from tests.lab.wizard import Wizard, lab_snapshot, moodle_checksums

pytestmark = [pytest.mark.lab, pytest.mark.lab_backup]

DIRECTORY_INVENTORY = "/srv/mwlab/inventory-existing.toml"
DUMP_INVENTORY = "/srv/mwlab/inventory-existing-dump.toml"


@pytest.fixture(scope="module")
def nightly() -> Iterator[Lab]:
    yield build(Shape(backup="nightly"))
    restore_default_lab()


@pytest.fixture()
def wizard(nightly: Lab) -> Iterator[Wizard]:
    with Wizard(nightly) as w:
        yield w


def allowed(wizard: Wizard, path: str) -> str:
    """A copy of one of the lab's existing-backup inventories whose db1 may restart (its
    log_slave_updates is off: prepare-source restarts it once, behind ProxySQL)."""
    text = wizard.lab.exec("jump", "cat", path).stdout
    assert 'source_restart = "ask"' in text, path
    copy = path.replace(".toml", f"-test-{secrets.token_hex(3)}.toml")
    wizard.files.append(copy)
    wizard.lab.exec("jump", "sh", "-c", f"cat > {copy}", input=text.replace(
        'source_restart = "ask"', 'source_restart = "allow"').encode())
    return copy


def commands_on(lab: Lab, wizard: Wizard, host: str) -> list[str]:
    """Every command the wizard ran on `host`, from its audit log."""
    log = lab.exec("jump", "cat", f"{wizard.state_dir}/mwlab.audit.log").stdout
    return [line.split(" ssh: ", 1)[1] for line in log.splitlines()
            if line.split(" ")[1:2] == [host] and " ssh: " in line]


def seed_and_check(lab: Lab, wizard: Wizard, inventory: str) -> str:
    before = lab_snapshot(lab)
    run = wizard("run", "--inventory", inventory, "--until", "replicas", "--yes")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "catching up with db1" in out, out
    assert_replicating(lab)
    for host in ("db2", "db3"):
        assert moodle_checksums(lab, host) == moodle_checksums(lab, "db1")
    state = wizard.state()
    assert state["steps"]["replicas"]["remote_jobs"][0]["host"] == "backup"
    # The seed read the backup where it lies: no backup ran on db1, and the seed job ran on
    # the backup host (db1 serves only its binary log for the catch-up).
    on_db1 = commands_on(lab, wizard, "db1")
    assert on_db1 and not [c for c in on_db1 if "mariadb-backup" in c or "mariadb-dump" in c]
    roll_back_to(lab, wizard, before, binlogs_kept=True)
    return out


def test_seed_from_last_nights_mariadb_backup_directory(nightly: Lab, wizard: Wizard) -> None:
    out = seed_and_check(nightly, wizard, allowed(wizard, DIRECTORY_INVENTORY))
    assert "mariadb-backup directory" in out, out


def test_seed_from_last_nights_sql_dump(nightly: Lab, wizard: Wizard) -> None:
    out = seed_and_check(nightly, wizard, allowed(wizard, DUMP_INVENTORY))
    assert "SQL dump" in out, out


def test_a_wizard_killed_mid_restore_resumes(nightly: Lab, wizard: Wizard) -> None:
    before = lab_snapshot(nightly)
    launcher = wizard.spawn("run", "--inventory", allowed(wizard, DIRECTORY_INVENTORY),
                            "--until", "replicas", "--yes")

    def streaming() -> dict[str, Any] | None:
        assert launcher.poll() is None, launcher.stdout.read() if launcher.stdout else ""
        try:
            jobs = wizard.state()["steps"]["replicas"]["remote_jobs"]
        except (AssertionError, json.JSONDecodeError, KeyError):
            return None
        if not jobs:
            return None
        progress = nightly.exec("backup", "cat", f"{jobs[0]['paths']['directory']}/progress",
                                check=False).stdout.strip()
        return jobs[0] if progress.isdigit() and int(progress) > 0 else None

    job = wait_for("the restore's stream from the backup host", streaming, timeout=300)
    # nsenter forks the wizard into jump's namespaces: that child is the wizard.
    os.kill(child_of(launcher.pid), signal.SIGKILL)
    launcher.wait(timeout=30)
    resumed = wizard("resume", "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    jobs_after = wizard.state()["steps"]["replicas"]["remote_jobs"]
    assert [j["job_id"] for j in jobs_after] == [job["job_id"]], "the stream started again"
    assert_replicating(nightly)
    assert moodle_checksums(nightly, "db3") == moodle_checksums(nightly, "db1")
    roll_back_to(nightly, wizard, before, binlogs_kept=True)


def test_binlogs_purged_past_the_backup_are_refused_before_anything_changes(
        nightly: Lab) -> None:
    lab = build(Shape(backup="purged"))
    with Wizard(lab) as wizard:
        before = lab_snapshot(lab)
        run = wizard("run", "--inventory", allowed(wizard, DIRECTORY_INVENTORY), "--until",
                     "replicas", "--yes")
        out = run.stdout + run.stderr
        assert run.returncode != 0
        assert "could never catch up" in out, out
        assert lab_snapshot(lab) == before
