"""`lab up` without mysql-mimic (a plain `pip install moodle-wizard`) is refused before anything
is built, with the command that installs it into this interpreter."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from moodle_wizard.lab import lab
from moodle_wizard.lab.system import LabError

REAL_FIND_SPEC = importlib.util.find_spec


def without_mimic(name: str, *args: Any) -> Any:
    return None if name == "mysql_mimic" else REAL_FIND_SPEC(name, *args)


def test_the_stand_in_without_mysql_mimic_is_refused_with_the_install_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", without_mimic)
    with pytest.raises(LabError) as err:
        lab.check_standin("stand-in")
    assert f"{sys.executable} -m pip install 'mysql-mimic>=3'" in str(err.value)
    assert "--proxysql-bin" in str(err.value)


def test_a_real_binary_or_an_install_with_mysql_mimic_passes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    lab.check_standin("stand-in")  # the dev install has it
    monkeypatch.setattr(importlib.util, "find_spec", without_mimic)
    lab.check_standin("/usr/local/bin/proxysql")


def test_lab_up_refuses_before_it_builds_or_removes_anything(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("lab up changed something before refusing")

    monkeypatch.setattr(importlib.util, "find_spec", without_mimic)
    monkeypatch.setattr(lab, "require_root", lambda: None)
    monkeypatch.setattr(lab, "check_packages", lambda: None)
    monkeypatch.setattr(lab, "find_proxysql", lambda given: "stand-in")
    for name in ("_build", "down"):
        monkeypatch.setattr(lab, name, forbidden)
    monkeypatch.setattr(lab.netns, "check_subnet_free", forbidden)
    with pytest.raises(LabError, match="mysql-mimic"):
        lab.up(None, 50, None, labdir=tmp_path / "lab")
