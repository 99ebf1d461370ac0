"""Issue 12 item 2, bare replica hosts: the wizard's apt-get installs the server packages and
what they depend on; rollback removes exactly what dpkg lists installed after and not before
(never a package the operator had), purging only those that had left nothing behind. A datadir
the packages' install made is this migration's from the start. Run against the recording fake
(tests/unit/recording.py): every change is a line of its action's runbook."""

from __future__ import annotations

import pytest

from moodle_wizard.core.facts.steps import DpkgRecord
from moodle_wizard.core.remote.packages import parse_dpkg, removal_shell
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.registry import STEP_CLASSES
from moodle_wizard.core.steps.replicas import Replicas
from tests.unit.recording import Answers
from tests.unit.test_runbook_is_what_runs import ids, recording, unshown

OPERATORS = "adduser ii \nlibc6:amd64 ii \nmariadb-common ii \nmariadb-client-core rc \n"
SERVER = ("mariadb-server ii \nmariadb-server-core ii \nmariadb-backup ii \n"
          "mariadb-client ii \nmariadb-client-core ii \nlibdbi-perl ii \n")
ADDED = ["libdbi-perl", "mariadb-backup", "mariadb-client", "mariadb-client-core",
         "mariadb-server", "mariadb-server-core"]
MISSING_CHECK = "${Package} ${Status}"
DPKG_LIST = "${binary:Package}"
INSPECT = "echo symlink=1"


def test_dpkg_states_are_read_as_installed_or_config_files() -> None:
    snap = parse_dpkg("adduser ii \nlibc6:amd64 ii \nold rc \ngone un \nhalf iU \nbroken iF \n")
    assert snap.installed == {"adduser", "libc6:amd64", "half", "broken"}
    assert snap.config_files == {"old"}


def test_removal_is_dpkg_on_exactly_the_set_and_purges_only_what_left_nothing() -> None:
    line = removal_shell("db2", ["b", "a", "c"], ["c", "z"]).render()
    assert line == ("on db2: dpkg --simulate --remove a b c >/dev/null && "
                    "DEBIAN_FRONTEND=noninteractive dpkg --remove a b c </dev/null && "
                    "DEBIAN_FRONTEND=noninteractive dpkg --purge a b </dev/null")


def bare_host_install(monkeypatch: pytest.MonkeyPatch) -> tuple[Replicas, list[str]]:
    answers = Answers(stdout=[(MISSING_CHECK, ""), (DPKG_LIST, [OPERATORS, OPERATORS + SERVER]),
                              (INSPECT, ["pids=\n", "exists=1\npids=\nentry=mysql\n"])],
                      reads=[INSPECT, "dpkg-query -W"])
    rec = recording("mariadb-10.11", monkeypatch, answers)
    step = STEP_CLASSES[StepName.REPLICAS](rec.ctx)
    assert isinstance(step, Replicas)
    [install] = [a for a in step.plan() if a.id == "install:db2"]
    problems = unshown(rec.ctx, rec, [install])
    assert problems == []
    return step, [r.line for r in rec.changes()]


def test_a_bare_host_records_dpkg_before_and_what_apt_get_added(
        monkeypatch: pytest.MonkeyPatch) -> None:
    step, changes = bare_host_install(monkeypatch)
    facts = step.facts
    rec = facts.dpkg["db2"]
    assert set(rec.installed_before) == {"adduser", "libc6:amd64", "mariadb-common"}
    assert rec.config_files_before == ["mariadb-client-core"]
    assert rec.added == ADDED, "the dependencies apt-get installed too, nothing of before"
    assert facts.installed_packages["db2"] == ["mariadb-server", "mariadb-backup",
                                               "mariadb-client"]
    # The datadir the packages made is this migration's: marked, to be emptied, not kept.
    assert facts.created_datadirs == ["db2"]
    assert len(changes) == 2 and "apt-get install" in changes[0]
    assert ".moodle-wizard-datadir" in changes[1]


def test_rollback_removes_exactly_what_apt_get_added(monkeypatch: pytest.MonkeyPatch) -> None:
    step, _ = bare_host_install(monkeypatch)
    [uninstall] = ids(step.rollback_plan(), "uninstall")
    assert uninstall.runbook == [
        "on db2: dpkg --simulate --remove " + " ".join(ADDED) + " >/dev/null && "
        "DEBIAN_FRONTEND=noninteractive dpkg --remove " + " ".join(ADDED) + " </dev/null && "
        "DEBIAN_FRONTEND=noninteractive dpkg --purge "
        + " ".join(a for a in ADDED if a != "mariadb-client-core")
        + " </dev/null  # what apt-get added: dpkg's list before and after"]


def test_an_apt_get_that_did_not_finish_removes_what_is_new_since(
        monkeypatch: pytest.MonkeyPatch) -> None:
    done = {StepName.REPLICAS: ["install:db2"]}
    answers = Answers(stdout=[(DPKG_LIST, OPERATORS + "mariadb-server-core iU \n")],
                      reads=["dpkg-query -W"])
    rec = recording("mariadb-10.11", monkeypatch, answers, done)
    step = STEP_CLASSES[StepName.REPLICAS](rec.ctx)
    assert isinstance(step, Replicas)
    step.facts.installed_packages["db2"] = ["mariadb-server"]
    step.facts.dpkg["db2"] = DpkgRecord(installed_before=["adduser", "libc6:amd64",
                                                          "mariadb-common"])
    [uninstall] = ids(step.rollback_plan(), "uninstall")
    assert "--remove <the packages dpkg lists installed now and did not before" in (
        uninstall.runbook[0])
    problems = unshown(rec.ctx, rec, [uninstall])
    assert problems == []
    [ran] = [r.line for r in rec.changes()]
    assert "dpkg --remove mariadb-server-core </dev/null" in ran
    assert "adduser" not in ran and "mariadb-common" not in ran


def test_a_host_with_the_packages_records_nothing_and_removes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    have = "".join(f"{p} install ok installed\n" for p in ("mariadb-server", "mariadb-backup",
                                                          "mariadb-client"))
    answers = Answers(stdout=[(MISSING_CHECK, have)], reads=["dpkg-query -W"])
    rec = recording("mariadb-10.11", monkeypatch, answers)
    step = STEP_CLASSES[StepName.REPLICAS](rec.ctx)
    assert isinstance(step, Replicas)
    [install] = [a for a in step.plan() if a.id == "install:db2"]
    assert unshown(rec.ctx, rec, [install]) == [] and rec.changes() == []
    assert step.facts.dpkg == {} and step.facts.installed_packages == {}
    assert not ids(step.rollback_plan(), "uninstall")
