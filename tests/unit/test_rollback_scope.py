"""Rollback plans come from the journal: a host where no action of the step ran is not touched
(the lab tests show the same on real hosts for the replicas)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from moodle_wizard.core.audit import AuditLog
from moodle_wizard.core.context import Context
from moodle_wizard.core.inventory import Inventory
from moodle_wizard.core.secrets import SecretStore
from moodle_wizard.core.state import ActionRecord, ActionStatus, MigrationState, StepName
from moodle_wizard.core.steps.replicas import Replicas
from moodle_wizard.core.steps.vip import Vip

FIXTURES = Path(__file__).parents[1] / "tui" / "fixtures"


def context(journal: dict[StepName, list[str]]) -> Context:
    data = tomllib.loads((FIXTURES / "lab-inventory.toml").read_text())
    data["secrets"] = {}
    inventory = Inventory.model_validate(data)
    state = MigrationState.model_validate_json(
        (FIXTURES / "discovered-state.json").read_text())
    for step, ids in journal.items():
        state.step(step).actions = [ActionRecord(id=i, status=ActionStatus.DONE) for i in ids]
    secrets = SecretStore(None, inventory.secrets.env_prefix, prompt=None)

    async def never(message: str, risky: bool) -> bool:
        return False

    return Context(inventory, state, None, secrets, None,  # type: ignore[arg-type]
                   AuditLog(None, secrets), lambda event: None, never)


def test_replicas_rollback_touches_only_the_journaled_replica() -> None:
    ctx = context({StepName.REPLICAS: ["install:db2", "stop:db2", "datadir:db2", "install:db3",
                                       "stop:db3"]})
    step = Replicas(ctx)
    assert [a.id for a in step.rollback_plan()] == ["restore:db2"]
    notes = step.rollback_notes()
    assert "db2: the wizard replaced its datadir or config" in notes
    assert ("db3: not touched (no action of this migration ran there); left as it is"
            in notes)


def test_replicas_rollback_of_a_seeded_replica_undoes_its_server_and_the_seed_key() -> None:
    ctx = context({StepName.REPLICAS: ["stop:db2", "datadir:db2", "stop:db3", "datadir:db3",
                                       "seed-key", "stream", "prepare:db2", "config:db2",
                                       "start:db2"]})
    ids = [a.id for a in Replicas(ctx).rollback_plan()]
    assert ids == ["unreplicate:db2", "stop:db2", "restore:db2", "restore:db3", "seed-key"]


def test_replicas_rollback_removes_only_the_packages_it_installed() -> None:
    ctx = context({StepName.REPLICAS: ["install:db3"]})
    ctx.state.steps.replicas.facts.installed_packages = {"db3": ["mariadb-backup"]}
    plan = Replicas(ctx).rollback_plan()
    assert [a.id for a in plan] == ["uninstall:db3"]
    assert plan[0].runbook == ["on db3: DEBIAN_FRONTEND=noninteractive apt-get remove -y "
                               "mariadb-backup </dev/null"]


def test_vip_rollback_stops_keepalived_only_where_the_step_ran() -> None:
    ctx = context({StepName.VIP: ["install:px1", "record:px1"]})
    ids = [a.id for a in Vip(ctx).rollback_plan()]
    assert "stop:px1" in ids
    assert "stop:px2" not in ids
