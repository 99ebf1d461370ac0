"""The replicas step as a package: its public name, its parts, and the preflight's sizes in
Rich's decimal units (the one byte formatter of core and TUI)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from moodle_wizard.core import events as ev
from moodle_wizard.core.facts import ReplicaHostFacts
from moodle_wizard.core.steps.replicas import Replicas, checksum_sql
from moodle_wizard.core.steps.replicas import step as replicas_step
from moodle_wizard.core.steps.replicas.consistency import Consistency
from moodle_wizard.core.steps.replicas.host import HostPreparation
from moodle_wizard.core.steps.replicas.replication import Replication
from moodle_wizard.core.steps.replicas.seeding import Seeding
from moodle_wizard.headless import Printer
from moodle_wizard.tui.clock import size
from tests.unit.test_source_binlog import SOURCE, context


def test_the_step_is_assembled_from_its_parts() -> None:
    for part in (HostPreparation, Seeding, Replication, Consistency):
        assert issubclass(Replicas, part)
    assert checksum_sql("moodle", ["mdl_user"]) == "CHECKSUM TABLE `moodle`.`mdl_user`"


async def test_too_little_space_is_said_in_decimal_units(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    step = Replicas(context(tmp_path, {**SOURCE, "data_bytes": 4_000_000_000}))

    async def fake_host(name: str) -> None:
        return None

    async def small_disk(host: object) -> ReplicaHostFacts:
        return ReplicaHostFacts(free_bytes=2_000_000_000, datadir="/var/lib/mysql",
                                server_running=False)

    async def empty_datadir(self: Replicas, r: str) -> None:
        return None

    async def debian_12(host: object, package: str) -> str:
        return "1:10.11.19-0+deb12u1"

    monkeypatch.setattr(step.ctx, "host", fake_host)
    monkeypatch.setattr(replicas_step, "replica_host_facts", small_disk)
    monkeypatch.setattr(replicas_step, "server_candidate", debian_12)
    monkeypatch.setattr(Replicas, "datadir", empty_datadir)
    monkeypatch.setattr(Replicas, "_datadir_problems", lambda self, r, d: [])
    errors = [p.message for p in await step.preflight() if p.level == "error"]
    assert ("db2: 2.0 GB free for /var/lib/mysql, but the copy of db1 needs about 4.6 GB; "
            "free space or grow the disk") in errors
    # The TUI shows the same numbers the same way.
    assert size(2_000_000_000) == "2.0 GB"
    assert size(4.6e9) == "4.6 GB"


def test_headless_progress_uses_the_same_byte_formatter() -> None:
    out = io.StringIO()
    Printer(out)(ev.Progress("replicas", "seed stream", 1_500_000_000, 3_000_000_000))
    assert "seed stream: 1.5 GB of ~3.0 GB (50%)" in out.getvalue()
    assert size(1_500_000_000) == "1.5 GB"
