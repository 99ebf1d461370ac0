"""The runbook is what runs: each step's actions, run against a recording fake of the hosts
and databases (tests/unit/recording.py), change nothing that their own runbook lines do not
show. A planned `<placeholder>` stands for the value apply learns (a GTID, a time).

Reads (SELECT/SHOW, probes) are not held to it: a runbook shows what changes a host.
Steps and actions covered here are the ones whose actions run command objects
(core/command.py); the others are named in NOT_YET.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from moodle_wizard.core.command import matches
from moodle_wizard.core.context import Context
from moodle_wizard.core.sql.version import ServerVersion, parse_version
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps.base import Action
from moodle_wizard.core.steps.registry import STEP_CLASSES
from tests.unit.plan_fixtures import FLAVOURS, context
from tests.unit.recording import Answers, Recording

VERSIONS = {"mariadb-10.11": parse_version("10.11.6-MariaDB-0+deb12u1", "mariadb"),
            "mysql-8.0": parse_version("8.0.36", "mysql"),
            "mysql-8.4": parse_version("8.4.3", "mysql")}
# A replica newer than its source, whose own dialect says some statements differently.
NEWER_REPLICA = {"mariadb-10.11": parse_version("11.4.4-MariaDB", "mariadb"),
                 "mysql-8.0": parse_version("8.4.3", "mysql"),
                 "mysql-8.4": parse_version("8.4.3", "mysql")}


def unshown(ctx: Context, rec: Recording, actions: Sequence[Action]) -> list[str]:
    """Run each action; every change it made that none of its runbook lines shows."""
    out = []
    for action in actions:
        planned = [ctx.secrets.mask(line) for line in action.runbook]
        start = len(rec.ran)
        asyncio.run(action.run())
        for ran in rec.ran[start:]:
            if not ran.read and not any(matches(p, ran.line) for p in planned):
                out.append(f"[{action.id}] ran {ran.line!r}; its runbook:\n  "
                           + "\n  ".join(planned))
    return out


def recording(flavour: str, monkeypatch: pytest.MonkeyPatch, answers: Answers,
              done: dict[StepName, list[str]] | None = None,
              versions: dict[str, ServerVersion] | None = None) -> Recording:
    rec = Recording(context(flavour, monkeypatch, done), VERSIONS[flavour], answers, versions)
    rec.install(monkeypatch)
    return rec


def ids(actions: Sequence[Action], *prefixes: str) -> list[Action]:
    return [a for a in actions if a.id.split(":")[0] in prefixes]


# -- replicas ---------------------------------------------------------------------------

MARKER_OURS = "marker={owner}\npids=4242\nexists=1\nentry=ibdata1\n"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replicas_replicate_sends_the_planned_statements(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also to a replica whose server is newer than the source (its own dialect would say
    some of them otherwise): the replica is sent what the plan shows."""
    binlog_info = b"binlog.000002\t1234\t0-1-42\n"
    files = {(r, f"/var/lib/mysql/{name}"): binlog_info for r in ("db2", "db3")
             for name in ("xtrabackup_binlog_info", "mariadb_backup_binlog_info")}
    rec = recording(flavour, monkeypatch, Answers(files=files),
                    versions={r: NEWER_REPLICA[flavour] for r in ("db2", "db3")})
    step = STEP_CLASSES[StepName.REPLICAS](rec.ctx)
    actions = ids(step.plan(), "replicate")
    assert len(actions) == 2
    assert unshown(rec.ctx, rec, actions) == []
    assert any("0-1-42" in r.line for r in rec.changes())


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_replicas_unreplicate_sends_the_planned_statements(
        flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    done = {StepName.REPLICAS: ["install:db2", "datadir:db2", "start:db2", "replicate:db2"]}
    rec = recording(flavour, monkeypatch, Answers(), done,
                    versions={"db2": NEWER_REPLICA[flavour]})
    step = STEP_CLASSES[StepName.REPLICAS](rec.ctx)
    owner = step.owner  # type: ignore[attr-defined]
    rec.answers.stdout.append(("echo symlink=1", MARKER_OURS.format(owner=owner)))
    rec.answers.reads.append("echo symlink=1")
    actions = ids(step.rollback_plan(), "unreplicate")
    assert [a.id for a in actions] == ["unreplicate:db2"]
    assert unshown(rec.ctx, rec, actions) == []
    assert len(rec.changes()) == 2
