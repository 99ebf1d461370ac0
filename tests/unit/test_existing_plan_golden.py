"""Golden files of the replicas step's plan when it seeds from an existing backup (a
mariadb-backup directory on a backup host, and a gzipped SQL dump there): the seed job runs on
the backup host, reads the backup as it lies and the source is not read; the key is allowed
from the backup host's address; a dump's replicas are initialised empty and imported, a
directory's unpacked and prepared. Rewrite with MW_UPDATE_GOLDEN=1 after an intended change
and read the diff. See test_plan_golden.py for the format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.registry import STEP_CLASSES
from tests.unit.plan_fixtures import all_secrets, context
from tests.unit.test_plan_golden import _actions, _rollback

GOLDEN = Path(__file__).parent / "golden" / "existing"
BACKUPS = {
    "directory": {"path": "/srv/backups/moodle/nightly", "kind": "directory",
                  "prepared": False, "compression": None},
    "dump": {"path": "/srv/backups/moodle/nightly.sql.gz", "kind": "dump",
             "prepared": None, "compression": "gzip"},
}


def existing(kind: str) -> Any:
    def edit(inventory: dict[str, Any], saved: dict[str, Any]) -> None:
        inventory["migration"]["backup_method"] = "existing"
        inventory["hosts"]["backup"] = {"address": "10.77.0.40", "role": "backup"}
        inventory["backup"] = {"host": "backup", "path": BACKUPS[kind]["path"]}
        # A school that keeps nightly backups for point-in-time recovery has it on.
        saved["steps"]["discover"]["facts"]["source"]["log_bin"] = True
        saved["steps"]["discover"]["facts"]["backup"] = {
            "host": "backup", **BACKUPS[kind], "server_version": "10.11.19-MariaDB",
            "size_bytes": 850_000_000, "taken_at": "2026-12-01T02:00:00+00:00",
            "gtid_position": "0-1-4100", "binlogs_reach": True, "binlogs_start": "0-1-1"}
    return edit


@pytest.mark.parametrize("kind", sorted(BACKUPS))
def test_an_existing_backups_plan_matches_golden(kind: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    name, flavour = StepName.REPLICAS, "mariadb-10.11"
    ctx = context(flavour, monkeypatch, edit=existing(kind))
    plan = STEP_CLASSES[name](ctx).plan()
    ids = [a.id for a in plan]
    out = [f"# replicas seeded from an existing {kind} on a {flavour} source", "", "== plan",
           *_actions(ctx, plan), ""]
    out += [*_rollback(context(flavour, monkeypatch, {name: ids}, edit=existing(kind)), name,
                       "every apply action done"), ""]
    text = "\n".join(line.rstrip() for line in out)
    for secret in all_secrets():
        assert secret not in text
    # The source is never where the seed job runs, and nothing logs in to it for the stream.
    stream = next(a for a in plan if a.id == "stream")
    assert stream.host == "backup" and "on backup:" in "\n".join(stream.runbook)
    assert "mariadb-backup --backup" not in text and "mariadb-dump" not in text
    path = GOLDEN / f"replicas.{kind}.txt"
    if os.environ.get("MW_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run with MW_UPDATE_GOLDEN=1 to write it"
    assert path.read_text() == text
