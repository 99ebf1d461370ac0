"""Issue 12 item 2: a replica host as `apt-get install mariadb-server` leaves it. The replicas
step's preflight says its datadir is moved aside (a warning, not an error), a datadir with
anyone's data is still refused unless migration.replace_replica_datadir; the datadirs are
real scratch directories inspected by a real shell with the wizard's own command."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from moodle_wizard.core.steps.replicas import Replicas
from moodle_wizard.core.steps.replicas import datadir as rd
from tests.unit.test_replica_datadir import LocalShell, fresh_datadir
from tests.unit.test_source_binlog import context


def problems(tmp_path: Path, path: Path, migration: str = "") -> list[tuple[str, str]]:
    step = Replicas(context(tmp_path, migration=migration))
    d = asyncio.run(rd.inspect(LocalShell(), step.ctx.state.migration_id, str(path)))
    return [(p.level, p.message) for p in step._datadir_problems("db2", d)]


@pytest.mark.parametrize("running", [False, True])
def test_a_fresh_datadir_is_moved_aside_with_a_warning(tmp_path: Path, running: bool) -> None:
    found = problems(tmp_path, fresh_datadir(tmp_path / "mysql", running=running))
    assert [level for level, _ in found] == ["warning"], found
    message = found[0][1]
    assert "freshly installed server's (system tables only: no user schema" in message
    assert f"will be moved aside to {tmp_path}/mysql.moodle-wizard-site1 (kept" in message
    assert "rollback moves it back" in message


def test_a_datadir_with_a_user_schema_is_still_refused(tmp_path: Path) -> None:
    path = fresh_datadir(tmp_path / "mysql")
    (path / "moodle").mkdir()
    found = problems(tmp_path, path)
    assert [level for level, _ in found] == ["error"], found
    assert "set migration.replace_replica_datadir = true" in found[0][1]


def test_replacing_user_data_still_needs_the_inventory(tmp_path: Path) -> None:
    path = fresh_datadir(tmp_path / "mysql")
    (path / "mysql-bin.000001").write_text("x")
    found = problems(tmp_path, path, migration="replace_replica_datadir = true")
    assert [level for level, _ in found] == ["warning"], found
    assert "freshly installed" not in found[0][1] and "moved aside" in found[0][1]


def test_a_fresh_datadir_that_cannot_be_moved_is_an_error(tmp_path: Path) -> None:
    path = fresh_datadir(tmp_path / "mysql")
    Path(f"{path}.moodle-wizard-site1").mkdir()
    step = Replicas(context(tmp_path))
    d = asyncio.run(rd.inspect(LocalShell(), "site1", str(path)))
    assert d.fresh and d.aside_exists
    found = step._datadir_problems("db2", d)
    assert [p.level for p in found] == ["error"] and "keeps both" in found[0].message
