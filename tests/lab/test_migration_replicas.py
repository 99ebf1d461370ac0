"""The first half of the migration against the lab: discover, prepare-source, replicas."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.conftest import Lab
from tests.lab.wizard import (
    ALLOW_RESTART,
    Wizard,
    lab_snapshot,
    moodle_checksums,
    replica_status,
    sql,
    wizard_children,
)


@pytest.fixture()
def wizard(running_lab: Lab) -> Iterator[Wizard]:
    with Wizard(running_lab) as w:
        yield w


def assert_replicating(lab: Lab) -> None:
    for host in ("db2", "db3"):
        status = replica_status(lab, host)
        assert status["Slave_IO_Running"] == "Yes", status
        assert status["Slave_SQL_Running"] == "Yes", status
        assert status["Using_Gtid"] == "Slave_Pos"
        assert sql(lab, host, "SELECT @@read_only")[0] == ["1"]
    # A write through Moodle's own config reaches both replicas.
    probe = json.loads(lab.exec("app", "moodle-probe").stdout)
    for host in ("db2", "db3"):
        deadline = time.monotonic() + 20
        while sql(lab, host, "SELECT COUNT(*) FROM moodle.mdl_mwlab_probe WHERE token='"
                  + probe["token"] + "'")[0] != ["1"]:
            assert time.monotonic() < deadline, f"probe row never reached {host}"
            time.sleep(0.1)
    ids = {sql(lab, h, "SELECT @@server_id")[0][0] for h in ("db1", "db2", "db3")}
    assert len(ids) == 3


def migrate_and_roll_back(lab: Lab, wizard: Wizard, inventory: str) -> None:
    before = lab_snapshot(lab)
    run = wizard("run", "--inventory", inventory, "--until", "replicas", "--yes")
    assert run.returncode == 0, run.stdout + run.stderr
    assert_replicating(lab)
    assert moodle_checksums(lab, "db2") == moodle_checksums(lab, "db1")
    state = wizard.state()
    assert [state["steps"][s]["status"] for s in ("discover", "prepare-source", "replicas")] \
        == ["done"] * 3
    roll_back_to(lab, wizard, before)


def roll_back_to(lab: Lab, wizard: Wizard, before: dict[str, Any], *,
                 binlogs_kept: bool = False) -> None:
    """A full rollback leaves every lab host as `before` found it. `binlogs_kept`: db1 had
    binary logs before and restarted, which began a new one; the wizard never removes binary
    logs it did not create alone (the school's own history), so the old ones must all still
    be there and the new one may stay."""
    # The probe rows written through Moodle's config are the one change the source keeps;
    # they are left out so the comparison is about what the wizard did.
    lab.exec("db1", "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe")
    back = wizard("rollback", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    after = lab_snapshot(lab)
    before["db1"]["checksums"].pop("moodle.mdl_mwlab_probe")
    after["db1"]["checksums"].pop("moodle.mdl_mwlab_probe")
    if binlogs_kept:
        old, new = before["db1"].pop("binlogs"), after["db1"].pop("binlogs")
        assert set(old.split()) <= set(new.split()), (old, new)
    assert after == before


def test_physical_seed_replicates_and_rolls_back(running_lab: Lab, wizard: Wizard) -> None:
    migrate_and_roll_back(running_lab, wizard, wizard.inventory("allow", **ALLOW_RESTART))


def test_logical_seed_replicates_and_rolls_back(running_lab: Lab, wizard: Wizard) -> None:
    inventory = wizard.inventory(
        "logical", **ALLOW_RESTART, **{'backup_method = "physical"': 'backup_method = "logical"'})
    migrate_and_roll_back(running_lab, wizard, inventory)


def streamed_bytes(lab: Lab, job_dir: str) -> int:
    out = lab.exec("db1", "cat", f"{job_dir}/progress", check=False).stdout.strip()
    return int(out) if out.isdigit() else 0


def child_of(pid: int) -> int:
    children = wizard_children(pid)
    assert len(children) == 1
    return children[0]


def start_until_mid_stream(lab: Lab, wizard: Wizard, timeout: float = 90,
                           ) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start `run --until replicas` on jump and return once seed bytes are flowing."""
    inventory = wizard.inventory("allow", **ALLOW_RESTART)
    launcher = wizard.spawn("run", "--inventory", inventory, "--until", "replicas", "--yes")
    deadline = time.monotonic() + timeout
    while True:
        assert launcher.poll() is None, launcher.stdout.read() if launcher.stdout else ""
        try:
            jobs = wizard.state()["steps"]["replicas"]["remote_jobs"]
        except (AssertionError, json.JSONDecodeError, KeyError):
            jobs = []
        if jobs and streamed_bytes(lab, jobs[0]["paths"]["directory"]) > 0:
            return launcher, jobs[0]
        assert time.monotonic() < deadline, "the seed stream never started"
        time.sleep(0.02)


def test_killed_during_the_stream_resume_reattaches(running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    before = lab_snapshot(lab)
    # nsenter forks the wizard into jump's namespaces: that child is the wizard.
    launcher, job = start_until_mid_stream(lab, wizard, timeout=60)
    os.kill(child_of(launcher.pid), signal.SIGKILL)
    launcher.wait(timeout=30)
    job_id = job["job_id"]
    killed_at = streamed_bytes(lab, job["paths"]["directory"])

    resumed = wizard("resume", "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    jobs_after = wizard.state()["steps"]["replicas"]["remote_jobs"]
    assert [j["job_id"] for j in jobs_after] == [job_id], "the stream was started again"
    assert killed_at > 0
    assert_replicating(lab)
    roll_back_to(lab, wizard, before)
