"""Bad input that the wizard must refuse before it connects anywhere: one clear line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moodle_wizard.core.migrationlock import MigrationLock
from moodle_wizard.core.state import new_state, save
from tests.unit.inventories import MINIMAL_INVENTORY

INVENTORY = MINIMAL_INVENTORY


def wizard(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOODLE_WIZARD_STATE_DIR": str(state_dir)}
    return subprocess.run([sys.executable, "-m", "moodle_wizard", *args], capture_output=True,
                          text=True, env=env, stdin=subprocess.DEVNULL, timeout=60)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture()
def site(tmp_path: Path) -> tuple[Path, Path]:
    inventory = tmp_path / "site.toml"
    inventory.write_text(INVENTORY)
    state_dir = tmp_path / "state"
    save(new_state("site", inventory), state_dir / "site.json")
    return inventory, state_dir


def test_a_corrupt_state_file_is_named_with_what_to_do(site: tuple[Path, Path]) -> None:
    _, state_dir = site
    (state_dir / "site.json").write_text('{"schema_version": 1, "migration_id": ')
    line = one_line(wizard(state_dir, "status"))
    assert "site.json is unreadable" in line and "Move it aside" in line


def test_a_state_file_from_a_newer_wizard_is_refused(site: tuple[Path, Path]) -> None:
    _, state_dir = site
    path = state_dir / "site.json"
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    line = one_line(wizard(state_dir, "resume", "--yes"))
    assert "written by a newer moodle-wizard" in line and "upgrade" in line


def test_a_second_wizard_on_the_same_migration_is_refused(site: tuple[Path, Path]) -> None:
    _, state_dir = site
    with MigrationLock(state_dir / "site.json"):
        line = one_line(wizard(state_dir, "resume", "--yes"))
    assert f"pid {os.getpid()}" in line and "is driving this migration" in line


def test_a_malformed_inventory_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[migration]\nname = \n")
    line = one_line(wizard(tmp_path / "state", "run", "--inventory", str(bad)))
    assert str(bad) in line and "not valid TOML" in line
    assert not (tmp_path / "state").exists(), "nothing is written for a refused inventory"


def test_an_inventory_with_one_host_in_two_roles_is_refused(tmp_path: Path) -> None:
    inv = tmp_path / "twice.toml"
    inv.write_text(INVENTORY.replace('address = "127.0.0.2"', 'address = "127.0.0.1"'))
    line = one_line(wizard(tmp_path / "state", "run", "--inventory", str(inv)))
    assert "db1 and db2 are the same machine" in line


def test_resume_without_a_saved_migration_says_how_to_start(tmp_path: Path) -> None:
    line = one_line(wizard(tmp_path / "empty", "resume"))
    assert "moodle-wizard run --inventory" in line
