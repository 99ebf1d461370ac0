"""The crash and resume matrix of the operations after the migration (slow:
`make test-crash-matrix`): switchover, failover and rejoin SIGKILLed at each of their action
boundaries (MOODLE_WIZARD_CRASH_AFTER), then the same command run again must finish, and the
cluster must be as an uninterrupted run leaves it: the right primary, every other server
replicating from it, both proxies sending writes to it, the journal saying so.

The boundaries come from reference runs (the audit log). MW_CRASH_POINTS / MW_CRASH_BUDGET_S
as in test_crash_matrix.py.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.lab import test_migration_cluster as cluster
from tests.lab.conftest import Lab
from tests.lab.test_crash_matrix import boundaries, crashed_after, selected
from tests.lab.test_migration_cluster import Migrated
from tests.lab.test_operate import assert_primary, crash, same_data_everywhere

pytestmark = pytest.mark.crash_matrix
migrated = cluster.migrated


def ok(m: Migrated, *argv: str) -> str:
    out = m.wizard(*argv)
    assert out.returncode == 0, (argv, out.stdout + out.stderr)
    return out.stdout


def points_of(lab: Lab, m: Migrated, kind: str, run: list[str]) -> list[str]:
    """The boundaries `run` passes, from a reference run of it."""
    seen = len(boundaries(lab, m.wizard))
    ok(m, *run)
    return [p for p in boundaries(lab, m.wizard)[seen:] if p.startswith(f"{kind}/")]


def test_switchover_killed_at_each_boundary_then_run_again(running_lab: Lab,
                                                          migrated: Migrated) -> None:
    lab, m = running_lab, migrated
    points = points_of(lab, m, "switchover", ["switchover", "--to", "db2", "--yes"])
    ok(m, "switchover", "--to", "db1", "--yes")
    budget, started = float(os.environ.get("MW_CRASH_BUDGET_S", "inf")), time.monotonic()
    for point in selected(points):
        if time.monotonic() - started > budget:
            break
        crashed_after(m.wizard, point, "switchover", "--to", "db2", "--yes")
        ok(m, "switchover", "--to", "db2", "--yes")
        assert_primary(lab, m, "db2", ("db1", "db3"))
        ok(m, "switchover", "--to", "db1", "--yes")
        assert_primary(lab, m, "db1", ("db2", "db3"))
        print(f"\n{point}: resumed")
    same_data_everywhere(lab, "db1", ("db2", "db3"))


def _fail_db1(lab: Lab, m: Migrated, point: str | None) -> None:
    crash(lab, "db1")
    argv = ["failover", "--to", "db2", "--yes"]
    if point is not None:
        crashed_after(m.wizard, point, *argv)
    ok(m, *argv)
    assert_primary(lab, m, "db2", ("db3",))
    lab.exec("db1", "service", "mariadb", "start")


def test_failover_and_rejoin_killed_at_each_boundary_then_run_again(
        running_lab: Lab, migrated: Migrated) -> None:
    lab, m = running_lab, migrated
    seen = len(boundaries(lab, m.wizard))
    _fail_db1(lab, m, None)
    ok(m, "rejoin", "db1")
    failover = [p for p in boundaries(lab, m.wizard)[seen:] if p.startswith("failover/")]
    rejoin = [p for p in boundaries(lab, m.wizard)[seen:] if p.startswith("rejoin/")]
    ok(m, "switchover", "--to", "db1", "--yes")
    budget, started = float(os.environ.get("MW_CRASH_BUDGET_S", "inf")), time.monotonic()
    for point in [*selected(failover), *selected(rejoin)]:
        if time.monotonic() - started > budget:
            break
        _fail_db1(lab, m, point if point.startswith("failover/") else None)
        if point.startswith("rejoin/"):
            crashed_after(m.wizard, point, "rejoin", "db1")
        ok(m, "rejoin", "db1")
        assert_primary(lab, m, "db2", ("db1", "db3"))
        ok(m, "switchover", "--to", "db1", "--yes")
        assert_primary(lab, m, "db1", ("db2", "db3"))
        print(f"\n{point}: resumed")
    same_data_everywhere(lab, "db1", ("db2", "db3"))
