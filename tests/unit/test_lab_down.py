"""`lab down` finishes whatever it finds: a removal that fails does not stop the others, and
every failure is reported at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from moodle_wizard.lab import lab
from moodle_wizard.lab.system import LabError
from moodle_wizard.lab.topology import BRIDGE


def test_one_stuck_namespace_does_not_leave_the_rest_behind(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    labdir = tmp_path / "lab"
    labdir.mkdir()
    deleted: list[str] = []

    def delete_netns(name: str) -> None:
        if name == "mwlab-db1":
            raise LabError("could not remove mwlab-db1 (exit 1): Device or resource busy")
        deleted.append(name)

    monkeypatch.setattr(lab, "require_root", lambda: None)
    monkeypatch.setattr(lab, "read_pid", lambda labdir, name: None)
    monkeypatch.setattr(lab.netns, "lab_netns", lambda: ["mwlab-db1", "mwlab-db2"])
    monkeypatch.setattr(lab.netns, "netns_inode", lambda ns: None)
    monkeypatch.setattr(lab.netns, "delete_netns", delete_netns)
    monkeypatch.setattr(lab.netns, "delete_link", deleted.append)
    monkeypatch.setattr(lab, "_lab_mounts", lambda labdir: [])
    monkeypatch.setattr(lab, "verify_gone", lambda labdir: ["namespaces mwlab-db1"])
    with pytest.raises(LabError) as err:
        lab.down(labdir=labdir, quiet=True)
    assert "mwlab-db2" in deleted and BRIDGE in deleted
    assert not labdir.exists()
    assert "Device or resource busy" in str(err.value)
    assert "namespaces mwlab-db1" in str(err.value)
