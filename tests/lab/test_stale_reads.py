"""Stale reads (issue 15): Moodle's safe reads, through the VIP with the read-only user, never
land on a replica that is too far behind or whose replication stopped, and never fail.

After one migration (the lab's inventory keeps the default max_replication_lag, 30 s, and has
the read-only user `moodle_ro`): the reads land on db2 and db3; db2's SQL thread stopped, they
leave db2 within the limit plus one lag check of ProxySQL's monitor (Seconds_Behind_Master
turns NULL at once, and the wizard counts NULL as lagging past the limit) and `health` says so
in the operator's words; started again, db2 takes reads again; both replicas' SQL threads
stopped, every read lands on db1 (the primary's low-weight reader row) and none fails.

Each read is its own connection through the VIP, as a Moodle request is: ProxySQL picks the
server at the session's first query. The figures (how long db2 took to leave and to come
back) are printed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.lab.conftest import Lab
from tests.lab.shapes import wait_for
from tests.lab.test_migration_cluster import admin_query, failing, health
from tests.lab.wizard import ALLOW_RESTART, Wizard, replica_status

VIP = "10.77.0.100"
PROXIES = ("px1", "px2")
LIMIT_S = 30  # proxysql.max_replication_lag: the lab's inventory keeps the default
MARGIN_S = 15.0
BATCH = 25  # reads per poll while waiting for a change
SAMPLES = 200  # reads that must all agree once it happened

# One connection per read from the app host, through the VIP, with the read-only user (its
# password on stdin); a failed read prints FAIL and the client's error.
_READS = r"""
pw=$(cat)
i=0
while [ "$i" -lt "$1" ]; do
    i=$((i + 1))
    if out=$(MYSQL_PWD="$pw" mariadb -N -B -h "$2" -P 6033 -u moodle_ro \
             --connect-timeout=10 -e 'SELECT @@hostname' 2>&1); then
        echo "$out"
    else
        echo "FAIL $(echo "$out" | tr '\n' ' ')"
    fi
done
"""


@dataclass
class Reads:
    """Every read the test made: where each landed, and the failures."""

    lab: Lab
    password: str
    failures: list[str] = field(default_factory=list)
    count: int = 0

    def sample(self, n: int) -> Counter[str]:
        out = self.lab.exec("app", "sh", "-c", _READS, "reads", str(n), VIP,
                            input=self.password.encode()).stdout
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        self.failures += [line for line in lines if line.startswith("FAIL")]
        self.count += len(lines)
        return Counter(line for line in lines if not line.startswith("FAIL"))


@dataclass
class Migrated:
    wizard: Wizard
    reads: Reads
    admin_password: str


@pytest.fixture(scope="module")
def migrated(running_lab: Lab) -> Iterator[Migrated]:
    lab = running_lab
    with Wizard(lab) as wizard:
        run = wizard("run", "--inventory", wizard.inventory("allow", **ALLOW_RESTART), "--yes")
        try:
            assert run.returncode == 0, run.stdout + run.stderr
            secrets = json.loads(lab.exec("jump", "cat",
                                          f"{wizard.state_dir}/mwlab.secrets").stdout)
            yield Migrated(wizard, Reads(lab, secrets["proxysql_readonly_password"]),
                           secrets["proxysql_admin_password"])
        finally:
            for db in ("db2", "db3"):
                lab.exec(db, "mariadb", "-e", "START SLAVE SQL_THREAD", check=False)
            back = wizard("rollback", "--yes")
            assert back.returncode == 0, back.stdout + back.stderr


def lag_interval_s(lab: Lab, admin_password: str) -> float:
    """ProxySQL's mysql-monitor_replication_lag_interval (how often it checks lag), in s."""
    rows = admin_query(lab, "px1", admin_password, "SELECT variable_value FROM "
                       "runtime_global_variables WHERE variable_name = "
                       "'mysql-monitor_replication_lag_interval'")
    return int(rows[0][0]) / 1000


def wait_reads(reads: Reads, what: str, done: Callable[[Counter[str]], bool],
               timeout: float) -> float:
    """Seconds until a batch of reads satisfies `done`, polled with a deadline."""
    started = time.monotonic()
    wait_for(what, lambda: done(reads.sample(BATCH)), timeout=timeout)
    return time.monotonic() - started


def test_reads_leave_a_stopped_replica_and_fall_back_to_the_primary(
        running_lab: Lab, migrated: Migrated) -> None:
    lab, reads, wizard = running_lab, migrated.reads, migrated.wizard
    interval = lag_interval_s(lab, migrated.admin_password)
    leave_deadline = LIMIT_S + interval + MARGIN_S
    vars_ = admin_query(lab, "px1", migrated.admin_password, "SELECT variable_name, "
                        "variable_value FROM runtime_global_variables WHERE variable_name IN "
                        "('mysql-monitor_slave_lag_when_null', "
                        "'mysql-monitor_writer_is_also_reader')")
    assert {name: value for name, value in vars_} == {"mysql-monitor_slave_lag_when_null": "60",
                                       "mysql-monitor_writer_is_also_reader": "true"}, vars_

    # Healthy: the replicas take the reads (db1's weight is 1 against their 1000 each).
    seen = reads.sample(SAMPLES)
    assert seen["db2"] > 0 and seen["db3"] > 0, seen
    assert seen["db1"] <= 5 and set(seen) <= {"db1", "db2", "db3"}, seen

    # db2's SQL thread stopped: Seconds_Behind_Master NULL, counted past the limit.
    lab.exec("db2", "mariadb", "-e", "STOP SLAVE SQL_THREAD")
    try:
        left = wait_reads(reads, f"no read on db2 within {leave_deadline:.0f} s of stopping "
                          "its SQL thread", lambda c: bool(c) and "db2" not in c, leave_deadline)
        seen = reads.sample(SAMPLES)
        assert "db2" not in seen and seen["db3"] > 0, seen
        # `health` says it in the operator's words, on the node Moodle goes through and on
        # the other (each node's monitor checks in its own time).
        wanted = ("db2 out of the readers: replication lag over 30 s or replication "
                  "stopped")

        def said() -> dict[str, str] | None:
            bad = failing(health(wizard)[1])
            return bad if all(wanted in bad.get(f"{px} servers", "") for px in PROXIES) \
                else None

        bad = wait_for("health naming db2 out of the readers", said,
                       timeout=interval + MARGIN_S) or {}
        assert bad["db2 replication"] == "SQL thread not running", bad
    finally:
        lab.exec("db2", "mariadb", "-e", "START SLAVE SQL_THREAD")
    back_deadline = interval + MARGIN_S
    back = wait_reads(reads, f"db2 answering reads again within {back_deadline:.0f} s of "
                      "starting its SQL thread", lambda c: c["db2"] > 0, back_deadline)

    # Both replicas' SQL threads stopped: every read on db1, none failing.
    for db in ("db2", "db3"):
        lab.exec(db, "mariadb", "-e", "STOP SLAVE SQL_THREAD")
    try:
        fell = wait_reads(reads, f"every read on db1 within {leave_deadline:.0f} s of "
                          "stopping both replicas", lambda c: set(c) == {"db1"}, leave_deadline)
        seen = reads.sample(SAMPLES // 2)
        assert set(seen) == {"db1"}, seen
    finally:
        for db in ("db2", "db3"):
            lab.exec(db, "mariadb", "-e", "START SLAVE SQL_THREAD")
    restored = wait_reads(reads, "db2 and db3 answering reads again",
                          lambda c: c["db2"] > 0 and c["db3"] > 0, back_deadline)
    for db in ("db2", "db3"):
        assert replica_status(lab, db)["Slave_SQL_Running"] == "Yes"
    print(f"\nstale reads (lag limit {LIMIT_S} s, lag check every {interval:g} s): db2 left "
          f"the readers {left:.1f} s after its SQL thread stopped, came back {back:.1f} s "
          f"after it started; with both replicas stopped every read was on db1 after "
          f"{fell:.1f} s, the replicas back {restored:.1f} s after; {reads.count} reads, "
          f"{len(reads.failures)} failed")
    assert reads.failures == [], reads.failures[:5]
