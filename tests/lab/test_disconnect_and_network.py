"""Issue 6, section 1: the operator's session drops (SIGHUP to the wizard mid-stream) and a
replica's network goes away mid-seed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.lab.conftest import Lab
from tests.lab.test_migration_replicas import (
    assert_replicating,
    child_of,
    roll_back_to,
    start_until_mid_stream,
    streamed_bytes,
)
from tests.lab.wizard import ALLOW_RESTART, Wizard, lab_snapshot

# Some 2.5 minutes of broken links and dropped sessions: `make test-lab-faults`, not `make test`.
pytestmark = pytest.mark.lab_faults


@pytest.fixture()
def wizard(running_lab: Lab) -> Iterator[Wizard]:
    with Wizard(running_lab) as w:
        yield w
        w.stop_spawned()
        if running_lab.exec("jump", "test", "-e", f"{w.state_dir}/mwlab.json",
                            check=False).returncode == 0:
            w("rollback", "--yes")


def test_sighup_mid_stream_the_job_goes_on_and_resume_reattaches(running_lab: Lab,
                                                                  wizard: Wizard) -> None:
    lab = running_lab
    before = lab_snapshot(lab)
    launcher, job = start_until_mid_stream(lab, wizard)
    # What the wizard gets when the operator's SSH session to the jump host drops.
    os.kill(child_of(launcher.pid), signal.SIGHUP)
    launcher.wait(timeout=60)
    assert launcher.returncode == -signal.SIGHUP, "the wizard did not end by the hangup"
    at_hangup = streamed_bytes(lab, job["paths"]["directory"])
    # The stream went on without the wizard: more bytes, or the job already finished.
    deadline = time.monotonic() + 60
    while streamed_bytes(lab, job["paths"]["directory"]) <= at_hangup:
        if lab.exec("db1", "test", "-e", f"{job['paths']['directory']}/exit_code",
                    check=False).returncode == 0:
            break
        assert time.monotonic() < deadline, "the stream stopped with the wizard"
        time.sleep(0.05)
    resumed = wizard("resume", "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    jobs_after = wizard.state()["steps"]["replicas"]["remote_jobs"]
    assert [j["job_id"] for j in jobs_after] == [job["job_id"]], "the stream was started again"
    assert_replicating(lab)
    roll_back_to(lab, wizard, before)


def test_a_replica_link_down_mid_seed_fails_clearly_then_rollback_and_retry(
        running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    before = lab_snapshot(lab)
    launcher, _ = start_until_mid_stream(lab, wizard)
    subprocess.run(["ip", "link", "set", "mwv-db3", "down"], check=True)
    try:
        out, _ = launcher.communicate(timeout=600)
    finally:
        subprocess.run(["ip", "link", "set", "mwv-db3", "up"], check=True)
    print("\n" + out[-1500:])
    assert launcher.returncode != 0, out
    errors = [line for line in out.splitlines() if line.startswith("moodle-wizard:")]
    assert len(errors) == 1, out
    assert "db3" in errors[0], errors
    assert "Traceback" not in out
    # Undo the failed step, then the same run again succeeds.
    back = wizard("rollback", "--to", "replicas", "--yes")
    assert back.returncode == 0, back.stdout + back.stderr
    again = wizard("run", "--inventory", wizard.inventory("allow", **ALLOW_RESTART), "--until",
                   "replicas", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert_replicating(lab)
    roll_back_to(lab, wizard, before)
