"""Issue 14 item 3 on the lab: the replicas step's sampled verify (`[migration] verify =
"sampled"`) checksums pt-table-checksum chunks of the lab's real Moodle tables on db1, db2 and
db3, says so in the step's output, and the migration rolls back as after a full verify."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.lab.conftest import Lab
from tests.lab.test_migration_replicas import assert_replicating, roll_back_to
from tests.lab.wizard import ALLOW_RESTART, Wizard, lab_snapshot, sql


@pytest.fixture()
def wizard(running_lab: Lab) -> Iterator[Wizard]:
    with Wizard(running_lab) as w:
        yield w


def test_a_sampled_verify_checksums_chunks_on_every_host_and_says_so(
        running_lab: Lab, wizard: Wizard) -> None:
    lab = running_lab
    before = lab_snapshot(lab)
    inventory = wizard.inventory("sampled", **ALLOW_RESTART, **{
        'source_restart = "allow"': 'source_restart = "allow"\nverify = "sampled"'})
    run = wizard("run", "--inventory", inventory, "--until", "replicas", "--yes")
    assert run.returncode == 0, run.stdout + run.stderr
    line = re.search(r"checksums equal on db1, db2, db3 \(sampled: (\d+) of (\d+) chunks of "
                     r"(\d+) tables(?: \((\d+) without an integer key, checksummed whole\))?"
                     r"(?:; first pass of [a-z0-9, ]+ while the replicas started)?\) in \d+\.\d s",
                     run.stdout)
    assert line, run.stdout
    sampled, chunks, tables = map(int, line.groups()[:3])
    whole = int(line.group(4) or 0)
    moodle_tables = int(sql(lab, "db1", "SELECT COUNT(*) FROM information_schema.tables "
                                        "WHERE table_schema = 'moodle'")[0][0])
    assert tables == moodle_tables
    # A table of several chunks (the log table, by the server's row estimate: usually more
    # than 10,000 rows, but the estimate moves) has a share of them checksummed, never all;
    # a one-chunk table has its one. So the sample is fewer than all the chunks exactly when
    # some table has several.
    assert 0 < sampled <= chunks
    assert (sampled < chunks) == (chunks > tables - whole), (sampled, chunks, tables, whole)
    assert_replicating(lab)
    roll_back_to(lab, wizard, before)
