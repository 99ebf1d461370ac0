"""Issue 6, section 1: the crash and resume matrix (slow: `make test-crash-matrix`).

A reference run gives every action boundary of a full migration (the action ids in the state
file's journal, in order) and its end state. Then, for each boundary, a new run is killed with
SIGKILL the moment that action is journaled done, `resume --yes` finishes it, and the end state
must equal the reference's (replication healthy on both replicas, identical ProxySQL servers and
users on both nodes, exactly one VIP holder, config.php at the VIP and Moodle writing through
it); the rollback must then give back the original lab. The same for an interrupted rollback.

MW_CRASH_POINTS=steps limits the points to the last action of each step (a quick subset);
MW_CRASH_POINTS=N1,N2 to those indexes in the list. MW_CRASH_BUDGET_S=S starts no new point
after S seconds (a time-boxed subset; the points covered are printed).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

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
from tests.lab.test_migration_replicas import child_of
from tests.lab.wizard import LAB_INVENTORY, Wizard, replica_status

pytestmark = pytest.mark.crash_matrix


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


def journal(wizard: Wizard) -> list[tuple[str, str]]:
    """(step, action id) of every journaled action, in the order they ran (rollback actions
    are journaled in the same list, their ids prefixed 'rollback:')."""
    out = []
    for name, step in wizard.state()["steps"].items():
        for action in step.get("actions") or []:
            out.append((action.get("started_at", ""), name, action["id"]))
    return [(s, a) for _, s, a in sorted(out)]


def rollback_journal(lab: Lab, wizard: Wizard) -> list[tuple[str, str]]:
    """`rollback --yes`, recording the rollback actions as they are journaled (a step's are
    cleared from the state once that step is rolled back)."""
    launcher = wizard.spawn("rollback", "--yes")
    seen: list[tuple[str, str]] = []
    while launcher.poll() is None:
        try:
            current = journal(wizard)
        except (AssertionError, json.JSONDecodeError, KeyError):
            continue
        seen += [p for p in current if p[1].startswith("rollback:") and p not in seen]
        time.sleep(0.05)
    output = launcher.stdout.read() if launcher.stdout else ""
    assert launcher.returncode == 0, output
    return seen


def killed_at(lab: Lab, wizard: Wizard, argv: list[str],
              reached: Callable[[dict[str, Any]], bool]) -> None:
    """Run the wizard with `argv`; SIGKILL it as soon as its state file satisfies `reached`."""
    launcher = wizard.spawn(*argv)

    def check() -> bool:
        ended = launcher.poll() is not None
        try:
            if reached(wizard.state()):
                return True
        except (AssertionError, json.JSONDecodeError, KeyError):
            pass
        if ended:
            raise AssertionError("the wizard ended before the crash point: "
                                 + (launcher.stdout.read() if launcher.stdout else ""))
        return False

    try:
        wait_for("the crash point", check, timeout=300)
        if launcher.poll() is None:  # (the last action's point may come with the very end)
            os.kill(child_of(launcher.pid), signal.SIGKILL)
    finally:
        launcher.wait(timeout=60)


def action_done(step: str, action: str) -> Callable[[dict[str, Any]], bool]:
    def reached(state: dict[str, Any]) -> bool:
        return any(a["id"] == action and a["status"] == "done"
                   for a in state["steps"][step].get("actions") or [])
    return reached


def selected(points: list[tuple[str, str]]) -> list[tuple[str, str]]:
    choice = os.environ.get("MW_CRASH_POINTS", "")
    if choice == "steps":
        return [p for i, p in enumerate(points)
                if i + 1 == len(points) or points[i + 1][0] != p[0]]
    if choice:
        return [points[int(i)] for i in choice.split(",")]
    return points


def without_probe_rows(snapshot: dict[str, Any]) -> dict[str, Any]:
    snapshot["db1"]["checksums"].pop("moodle.mdl_mwlab_probe", None)
    return snapshot


def test_crash_matrix_of_the_migration_and_of_its_rollback(running_lab: Lab) -> None:
    lab = running_lab
    started = time.monotonic()
    before = without_probe_rows(cluster_snapshot(lab))
    with Wizard(lab) as reference:
        run = reference("run", "--inventory", LAB_INVENTORY, "--yes")
        assert run.returncode == 0, run.stdout + run.stderr
        points = journal(reference)
        want = end_state(lab, reference)
        assert want["vip_holders"] == 1 and want["probe_via"] == f"{VIP}:6033"
        rollback_points = rollback_journal(lab, reference)
    lab.exec("db1", "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe")
    assert without_probe_rows(cluster_snapshot(lab)) == before
    one_run = time.monotonic() - started
    chosen = selected(points)
    print(f"\ncrash matrix: {len(points)} migration boundaries ({len(chosen)} chosen), "
          f"{len(rollback_points)} rollback boundaries; reference run + rollback {one_run:.0f} s",
          flush=True)
    budget = float(os.environ.get("MW_CRASH_BUDGET_S", "inf"))
    covered = 0
    for step, action in chosen:
        if time.monotonic() - started > budget:
            break
        covered += 1
        with Wizard(lab) as wizard:
            killed_at(lab, wizard, ["run", "--inventory", LAB_INVENTORY, "--yes"],
                      action_done(step, action))
            resumed = wizard("resume", "--yes")
            assert resumed.returncode == 0, (step, action, resumed.stdout + resumed.stderr)
            assert end_state(lab, wizard) == want, (step, action)
            back = wizard("rollback", "--yes")
            assert back.returncode == 0, (step, action, back.stdout + back.stderr)
            lab.exec("db1", "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe")
            assert without_probe_rows(cluster_snapshot(lab)) == before, (step, action)
        print(f"  ok: killed after {step}/{action}, resumed ({time.monotonic() - started:.0f} s)",
              flush=True)
    rollback_covered = 0
    # NOT FINISHED: a step's rollback actions leave the journal once that step is rolled
    # back, so the state-file poll misses the last ones (the wizard ends first). Opt in with
    # MW_CRASH_ROLLBACK=1 until the crash point is taken from the wizard's output instead.
    if not os.environ.get("MW_CRASH_ROLLBACK"):
        print("crash matrix: rollback points not run (MW_CRASH_ROLLBACK unset; unfinished)")
        rollback_points = []
    for step, action in selected(rollback_points):
        if time.monotonic() - started > budget:
            break
        rollback_covered += 1
        with Wizard(lab) as wizard:
            run = wizard("run", "--inventory", LAB_INVENTORY, "--yes")
            assert run.returncode == 0, run.stdout + run.stderr
            killed_at(lab, wizard, ["rollback", "--yes"],
                      action_done(step, action))
            back = wizard("rollback", "--yes")
            assert back.returncode == 0, (step, action, back.stdout + back.stderr)
            lab.exec("db1", "mariadb", "-e", "DELETE FROM moodle.mdl_mwlab_probe")
            assert without_probe_rows(cluster_snapshot(lab)) == before, (step, action)
        print(f"  ok: rollback killed after {step}/{action}, rolled back again "
              f"({time.monotonic() - started:.0f} s)", flush=True)
    print(f"crash matrix: {covered} migration + {rollback_covered} rollback points covered "
          f"(of {len(points)} + {len(rollback_points)}) in {time.monotonic() - started:.0f} s")
    assert covered > 0
