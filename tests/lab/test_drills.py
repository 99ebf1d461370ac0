"""`drill switchover` and `drill primary` on the migrated lab, as an operator runs them: the
switchover drill (to db2 and back) with no failed write, nothing lost and a pause of at most
2 s as Moodle's client saw it; `drill primary` refused with --yes alone, then run, leaving a
healthy cluster with db1 the primary.

Shares one migration (test_migration_cluster's `migrated` fixture, which rolls it back at the
end, so the lab is left as it was found); the tests run in file order.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.lab import test_migration_cluster as cluster
from tests.lab.conftest import Lab
from tests.lab.test_migration_cluster import Migrated, healthy
from tests.lab.wizard import sql

migrated = cluster.migrated  # the same fixture: one migration for this module


def drill(m: Migrated, *args: str) -> tuple[int, dict[str, Any], str]:
    started = time.monotonic()
    out = m.wizard("drill", *args, "--json")
    print(f"\ndrill {' '.join(args)}: {time.monotonic() - started:.1f} s\n{out.stdout}")
    try:
        data: dict[str, Any] = json.loads(out.stdout)
    except json.JSONDecodeError:
        data = {}
    return out.returncode, data, out.stdout + out.stderr


def primary_is(lab: Lab, host: str) -> bool:
    return sql(lab, host, "SELECT @@read_only")[0][0] == "0"


def test_drill_switchover_fails_no_write_and_loses_nothing(running_lab: Lab,
                                                           migrated: Migrated) -> None:
    code, data, text = drill(migrated, "switchover", "--yes")
    assert code == 0, text
    legs = data["legs"]
    assert [(leg["old"], leg["new"]) for leg in legs] == [("db1", "db2"), ("db2", "db1")]
    for leg in legs:
        assert leg["writes"]["failed"] == 0, leg
        assert leg["writes"]["ok"] > 0, leg
        assert leg["lost"] == 0, leg
        assert leg["writes"]["longest_pause_s"] <= 2.0, leg
    assert data["rows_lost"] == 0
    assert data["missed"] == []
    assert primary_is(running_lab, "db1")


def test_drill_primary_needs_its_own_yes(running_lab: Lab, migrated: Migrated) -> None:
    code, _, text = drill(migrated, "primary", "--yes")
    assert code != 0
    assert "--yes does not answer this question" in text, text
    assert primary_is(running_lab, "db1")


def test_drill_primary_ends_with_a_healthy_cluster(running_lab: Lab,
                                                   migrated: Migrated) -> None:
    code, data, text = drill(migrated, "primary", "--stop-the-primary", "--yes")
    assert code == 0, text
    assert data["old"] == "db1" and data["new"] in ("db2", "db3")
    assert data["rejoined"] and data["back"]
    assert data["outage_from_crash_s"] is not None
    assert data["outage_from_failover_s"] <= data["outage_from_crash_s"]
    assert data["notice_s"] is not None
    # db1 was killed, started again and made primary again moments ago: a proxy monitor's
    # read_only check may have met it mid-way in its last round ("failed 0 s ago"); the
    # cluster is healthy once its next rounds pass (a deadline, not a sleep).
    healthy(migrated.wizard)
    assert primary_is(running_lab, "db1")
