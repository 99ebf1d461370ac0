"""Issue 6, section 1: the crash and resume matrix (slow: `make test-crash-matrix`).

A reference run and its rollback give every action boundary (from the wizard's audit log, in
order) and the end state. Then, for each boundary, a new run SIGKILLs itself the moment that
action is journaled done (MOODLE_WIZARD_CRASH_AFTER), `resume --yes` finishes it, and the end
state must equal the reference's (replication healthy on both replicas, identical ProxySQL
servers and users on both nodes, exactly one VIP holder, config.php at the VIP and Moodle
writing through it); the rollback must then give back the original lab. The same inside the
seed stream (killed from outside at a byte count, physical and logical), and for a rollback
killed at each of its boundaries and run again.

The migration runs in the lab's default order (auto: proxy-first, since db1's binary log is
off and it must restart); MW_CRASH_ORDER=classic runs the matrix in the classic order.
MW_CRASH_POINTS=steps limits the points to the last action of each step (a quick subset);
MW_CRASH_POINTS=N1,N2 to those indexes in the list, and step/action prefixes select by name
(`steps,replicas/source-restart`). MW_CRASH_BUDGET_S=S starts no new point after S seconds (a
time-boxed subset; the points covered are printed).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from moodle_wizard.core import failpoint
from tests.lab.conftest import Lab
from tests.lab.test_migration_cluster import (
    PROXIES,
    VIP,
    admin_query,
    cluster_snapshot,
    probe,
    vip_holders,
    wait_for,
)
from tests.lab.test_migration_replicas import child_of, streamed_bytes
from tests.lab.wizard import ALLOW_RESTART, Wizard, replica_status

pytestmark = pytest.mark.crash_matrix


@pytest.fixture()
def restart_allowed(running_lab: Lab) -> Iterator[str]:
    """The lab's inventory with source_restart = "allow" (`run --yes` restarts db1 only
    then), for the whole matrix: its wizards come and go, this inventory stays."""
    with Wizard(running_lab) as inventories:
        yield inventories.inventory("allow", **ALLOW_RESTART, **order_line())


def order_line() -> dict[str, str]:
    """The inventory change for MW_CRASH_ORDER (none: the default order)."""
    order = os.environ.get("MW_CRASH_ORDER")
    return {"[migration]\n": f'[migration]\norder = "{order}"\n'} if order else {}


def end_state(lab: Lab, wizard: Wizard) -> dict[str, Any]:
    """What an uninterrupted migration ends with, without anything that differs run to run
    (generated passwords, ids, times)."""
    password = json.loads(lab.exec("jump", "cat", f"{wizard.state_dir}/mwlab.secrets").stdout
                          )["proxysql_admin_password"]
    state: dict[str, Any] = {}
    for host in ("db2", "db3"):
        s = replica_status(lab, host)
        state[host] = (s["Slave_IO_Running"], s["Slave_SQL_Running"], s["Master_Host"])
    for px in PROXIES:
        state[px] = (
            admin_query(lab, px, password, "SELECT hostgroup_id, hostname, port FROM "
                        "runtime_mysql_servers ORDER BY 1, 2"),
            admin_query(lab, px, password, "SELECT username, default_hostgroup, active FROM "
                        "runtime_mysql_users ORDER BY 1, 2"),
            admin_query(lab, px, password, "SELECT writer_hostgroup, reader_hostgroup, "
                        "check_type FROM runtime_mysql_replication_hostgroups"))
    state["vip_holders"] = len(vip_holders(lab))
    state["probe_via"] = probe(lab)["via"]
    state["steps"] = {n: s["status"] for n, s in wizard.state()["steps"].items()}
    return state


CRASHED = (-signal.SIGKILL, 128 + signal.SIGKILL)


def boundaries(lab: Lab, wizard: Wizard) -> list[str]:
    """Every action boundary the wizard passed, in order, from its audit log."""
    log = lab.exec("jump", "cat", f"{wizard.state_dir}/mwlab.audit.log").stdout
    return [line.rsplit(": ", 1)[1] for line in log.splitlines() if " action done: " in line]


def crashed_after(wizard: Wizard, point: str, *argv: str) -> None:
    """Run the wizard so that it SIGKILLs itself the moment `point` is journaled."""
    out = wizard(*argv, env={failpoint.ENV: point})
    assert out.returncode in CRASHED, (point, "the crash point was never reached",
                                       out.stdout + out.stderr)


def stream_size(lab: Lab, method: str) -> int:
    """Roughly how many bytes a seed stream of the lab's db1 carries (the datadir's size is
    far from it: a physical stream skips the redo logs, a logical one is a fifth of it)."""
    backup = ("mariadb-backup --backup --stream=xbstream --target-dir=/tmp/mw-size 2>/dev/null"
              if method == "physical" else
              "mariadb-dump --single-transaction --hex-blob --databases moodle")
    out = lab.exec("db1", "sh", "-c", f"{backup} | wc -c; rm -rf /tmp/mw-size").stdout
    return int(out.split()[0])


def killed_mid_stream(lab: Lab, wizard: Wizard, argv: list[str], at_bytes: int) -> None:
    """SIGKILL the wizard from outside once `at_bytes` of the seed stream have gone through."""
    launcher = wizard.spawn(*argv)

    def far_enough() -> bool:
        assert launcher.poll() is None, launcher.stdout.read() if launcher.stdout else ""
        try:
            job = wizard.state()["steps"]["replicas"]["remote_jobs"][0]
        except (AssertionError, json.JSONDecodeError, KeyError, IndexError):
            return False
        return streamed_bytes(lab, job["paths"]["directory"]) >= at_bytes

    wait_for(f"{at_bytes} bytes of the seed stream", far_enough, timeout=300)
    os.kill(child_of(launcher.pid), signal.SIGKILL)
    launcher.wait(timeout=60)


def selected(points: list[str]) -> list[str]:
    """MW_CRASH_POINTS: empty (every point), or a comma-separated list of `steps` (the last
    action of each step), indexes, and `step/action` prefixes (e.g. replicas/source-restart)."""
    choice = os.environ.get("MW_CRASH_POINTS", "")
    if not choice:
        return points
    steps = [p.split("/")[0] for p in points]
    chosen: set[int] = set()
    for item in choice.split(","):
        if item == "steps":
            chosen |= {i for i in range(len(points))
                       if i + 1 == len(points) or steps[i + 1] != steps[i]}
        elif item.isdigit():
            chosen |= {int(item)} if int(item) < len(points) else set()
        else:
            chosen |= {i for i, p in enumerate(points) if p.startswith(item)}
    return [points[i] for i in sorted(chosen)]


def without_probe_rows(snapshot: dict[str, Any]) -> dict[str, Any]:
    snapshot["db1"]["checksums"].pop("moodle.mdl_mwlab_probe", None)
    return snapshot


def test_crash_matrix_of_the_migration_and_of_its_rollback(running_lab: Lab,
                                                           restart_allowed: str) -> None:
    lab = running_lab
    started = time.monotonic()
    run_argv = ["run", "--inventory", restart_allowed, "--yes"]
    before = without_probe_rows(cluster_snapshot(lab))

    def gives_back_the_lab(what: str) -> None:
        lab.exec("db1", "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe")
        assert without_probe_rows(cluster_snapshot(lab)) == before, what

    with Wizard(lab) as reference:
        run = reference(*run_argv)
        assert run.returncode == 0, run.stdout + run.stderr
        want = end_state(lab, reference)
        assert want["vip_holders"] == 1 and want["probe_via"] == f"{VIP}:6033"
        back = reference("rollback", "--yes")
        assert back.returncode == 0, back.stdout + back.stderr
        passed = boundaries(lab, reference)
    gives_back_the_lab("reference rollback")
    points = [p for p in passed if "/rollback:" not in p]
    rollback_points = [p for p in passed if "/rollback:" in p]
    with Wizard(lab) as probe_dir:
        # Where the backup job is started but not finished: the inventory's method, and the
        # other one, each killed early and late in its stream.
        logical = probe_dir.inventory("logical", **ALLOW_RESTART, **order_line(), **{
            'backup_method = "physical"': 'backup_method = "logical"'})
        streams = [(inv, m, f) for inv, m in ((restart_allowed, "physical"), (logical, "logical"))
                   for f in (0.2, 0.7)]
        chosen, chosen_rollback = selected(points), selected(rollback_points)
        print(f"\ncrash matrix: {len(points)} migration boundaries ({len(chosen)} chosen), "
              f"{len(streams)} points inside the seed stream, {len(rollback_points)} rollback "
              f"boundaries ({len(chosen_rollback)} chosen); reference run + rollback "
              f"{time.monotonic() - started:.0f} s", flush=True)
        budget = float(os.environ.get("MW_CRASH_BUDGET_S", "inf"))
        covered: list[str] = []
        # Interleaved, so that a time budget still covers every kind of point.
        runs = [(f"after {p}", partial(_crash_run, run_argv=run_argv, point=p), True)
                for p in chosen]
        rollbacks = [(f"rollback after {p}", partial(_crash_rollback, run_argv=run_argv,
                                                     point=p), False)
                     for p in chosen_rollback]
        cases: list[tuple[str, Callable[[Wizard], None], bool]] = [
            *[(f"{f:.0%} into the {m} stream",
               partial(_kill_mid_stream, lab=lab, inventory=inv, method=m, fraction=f), True)
              for inv, m, f in streams],
            *[c for pair in itertools.zip_longest(runs, rollbacks) for c in pair if c],
        ]
        for name, crash, resumes in cases:
            if time.monotonic() - started > budget:
                break
            with Wizard(lab) as wizard:
                try:
                    crash(wizard)
                    if resumes:
                        resumed = wizard("resume", "--yes")
                        assert resumed.returncode == 0, (name, resumed.stdout + resumed.stderr)
                        assert end_state(lab, wizard) == want, name
                finally:
                    # Whatever failed, the lab goes back for the tests after this one.
                    wizard.stop_spawned()
                    back = wizard("rollback", "--yes")
                assert back.returncode == 0, (name, back.stdout + back.stderr)
                gives_back_the_lab(name)
            covered.append(name)
            print(f"  ok: killed {name} ({time.monotonic() - started:.0f} s)", flush=True)
    print(f"crash matrix: {len(covered)} of {len(cases)} points covered "
          f"in {time.monotonic() - started:.0f} s")
    assert covered


def _crash_run(wizard: Wizard, run_argv: list[str], point: str) -> None:
    crashed_after(wizard, point, *run_argv)


def _kill_mid_stream(wizard: Wizard, lab: Lab, inventory: str, method: str,
                     fraction: float) -> None:
    # The lab's stream takes a second or two: slowed to 40 Mbit/s toward the replicas (on
    # the bridge side of their links), so that a point inside it can be hit at all.
    links = ["mwv-db2", "mwv-db3"]
    for link in links:
        subprocess.run(["tc", "qdisc", "replace", "dev", link, "root", "tbf", "rate", "40mbit",
                        "burst", "64kb", "latency", "200ms"], check=True)
    try:
        killed_mid_stream(lab, wizard, ["run", "--inventory", inventory, "--yes"],
                          int(fraction * stream_size(lab, method)))
    finally:
        for link in links:
            subprocess.run(["tc", "qdisc", "del", "dev", link, "root"], check=True)


def _crash_rollback(wizard: Wizard, run_argv: list[str], point: str) -> None:
    run = wizard(*run_argv)
    assert run.returncode == 0, run.stdout + run.stderr
    crashed_after(wizard, point, "rollback", "--yes")
